"""Pipelines: one validated request in, one result out (the models stay in :mod:`hmu_demo.models`).

:mod:`~hmu_demo.pipelines.requests` checks every input; :mod:`~hmu_demo.pipelines.text_to_motion`
makes motions from prompts (optionally through an unlearning edit); :mod:`~hmu_demo.pipelines.compare`
runs one prompt through the original and the edited model and judges both.
"""
