"""The Gradio app: compare, live unlearning, codebook inspector, red team, benchmark, and its named API.

Named endpoints (``gradio_client``): ``/compare`` (with the videos), ``/compare_motion`` (what the page's
button calls: the 3D viewer's JSON and the judges, no video; the videos follow), ``/generate``, ``/unlearn``,
``/inspect``, ``/code_motion``, ``/redteam``. Everything else (filling hyperparameter defaults, refreshing the inspector
after a comparison, the red team's choices for an attack) is private. The layout holds no logic: it wires widgets to
:class:`~hmu_demo.ui.handlers.StudioHandlers`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from hmu_demo.pipelines.requests import MAX_SECONDS
from hmu_demo.ui.examples import example_groups
from hmu_demo.attack import attack_names
from hmu_demo.attack.target import DEFAULT_SECONDS
from hmu_demo.ui.handlers import DEFAULT_CONCEPT, DEFAULT_METHOD, StudioHandlers, guarded
from hmu_demo.ui.redteam import APP_BUDGETS, DEFAULT_ATTACK, attack_summary, budget_label, default_budget, \
    default_start, start_choices
from hmu_demo.ui.results import CompareResult
from hmu_demo.ui.service import ORIGINAL, StudioService
from hmu_demo.ui.viewer import viewer_block
from hmu_demo.unlearning.registry import all_methods

BENCHMARK_DIR = Path(__file__).resolve().parents[2] / "docs" / "results" / "benchmark_embedded"
REDTEAM_TABLE = BENCHMARK_DIR.parent / "redteam_test.md"
HELDOUT_BENCHMARK_DIRS = (BENCHMARK_DIR.parent / "benchmark_heldout_momask",
                          BENCHMARK_DIR.parent / "benchmark_heldout_bamm")
TITLE = "HMU Studio: Human Motion Unlearning"

#: Clicking a point of the codebook map or a token timeline selects its code and plays it.
#: gr.Plot has no select event, so plotly's own click event is bridged to the code box.
CLICK_TO_PLAY_JS = """
() => {
  const hook = () => {
    document.querySelectorAll('#codebook-map .js-plotly-plot, #timeline-original .js-plotly-plot,'
                              + ' #timeline-unlearned .js-plotly-plot').forEach((plot) => {
      if (plot.dataset.hmuHooked || typeof plot.on !== 'function') return;
      plot.dataset.hmuHooked = '1';
      plot.on('plotly_click', (ev) => {
        const point = ev && ev.points && ev.points[0];
        if (!point || point.customdata === undefined || point.customdata === null) return;
        const input = document.querySelector('#code-select input');
        if (!input) return;
        input.value = String(point.customdata);
        input.dispatchEvent(new Event('input', { bubbles: true }));
        setTimeout(() => { const b = document.querySelector('#play-code'); if (b) b.click(); }, 100);
      });
    });
  };
  setInterval(hook, 1000);
}
"""

#: Runs in the browser when a comparison starts: the videos on screen stop decoding and the 3D viewer stops
#: drawing, so a small machine spends its cores on the new comparison (the new one plays when it arrives).
PAUSE_VIDEOS_JS = ("(...args) => { document.querySelectorAll('video').forEach((v) => v.pause());"
                   " try { if (window.hmuViewer) window.hmuViewer.pause(); } catch (e) {} return args; }")

CSS = """
#composite-video video { max-height: 62vh; }
.hmu-safe-banner { background: #1f6f5c; color: white; padding: 6px 12px; border-radius: 6px; }
.hmu-problem-banner { background: #fff4e5; border-left: 4px solid #d9822b; padding: 6px 12px; }
"""


def _method_summary(method: str) -> str:
    """One line on a registry method and its default hyperparameters (what ``{}`` means for it)."""
    m = all_methods().get(method)
    if m is None:
        return ""
    defaults = ", ".join(f"`{k}={v}`" for k, v in m.defaults.items())
    return f"*{m.name}*: {m.summary}. Defaults: {defaults}"


def _benchmark_markdown(folder: Path = BENCHMARK_DIR, redteam: Path = REDTEAM_TABLE,
                        heldout: tuple[Path, ...] = HELDOUT_BENCHMARK_DIRS) -> str:
    """The committed results, newest protocol first: the red team (prompts no corpus template made), the
    benchmark on the held-out corpus, then the superseded version-1 benchmark."""
    parts = []
    if redteam.is_file():
        parts.append(redteam.read_text(encoding="utf-8"))
    parts += [(d / "benchmark.md").read_text(encoding="utf-8") for d in heldout if (d / "benchmark.md").is_file()]
    table = folder / "benchmark.md"
    if table.is_file():
        parts.append("## Forget/retain benchmark (superseded)\n\nMade before the held-out corpus: on the version-1 "
                     "corpus, with 32 captions per set, where FID's real-vs-real floor is above every method's "
                     "retain FID (docs/evaluation.md, Committed results). The app does not re-run it.\n\n"
                     + table.read_text(encoding="utf-8"))
    if not parts:
        return ("No committed results were found. Make them with `python -m hmu_demo.eval.redteam --json` and "
                "`python -m hmu_demo.eval.benchmark --short --out docs/results/benchmark_embedded`.")
    return "\n\n".join(parts)


def launch_options() -> dict:
    """Look-and-feel arguments Gradio 6 takes at ``launch`` (theme, CSS, the click-to-play script)."""
    return {"theme": gr.themes.Soft(), "css": CSS, "js": CLICK_TO_PLAY_JS}


def build_app(service: StudioService, handlers: StudioHandlers | None = None) -> gr.Blocks:
    """The whole app on one shared service (models load once; every request uses them)."""
    handlers = handlers or StudioHandlers(service)
    safe = service.safe_mode
    methods = service.methods()
    backbones = service.backbones()

    with gr.Blocks(title="HMU Studio", analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\nType a prompt: the original text-to-motion model and the model with the "
                    "concept unlearned run with the same seed, side by side. Type other keywords to unlearn "
                    "any concept live.")
        if safe:
            gr.Markdown("**Safe deployment mode**: only the unlearned model is served.",
                        elem_classes=["hmu-safe-banner"])
        problems = service.problems
        if problems:
            gr.Markdown("**Some checkpoints could not be loaded; the app runs with the rest.**\n\n"
                        + "\n".join(f"- {p.message()}" for p in problems),
                        elem_id="startup-problems", elem_classes=["hmu-problem-banner"])
        last = gr.State(None)
        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    prompt = gr.Textbox(label="Prompt", value="a man punches and then kicks", lines=2,
                                        elem_id="prompt-box")
                    compare_btn = gr.Button("Generate and compare", variant="primary", elem_id="compare-btn")
                    for group, prompts in example_groups().items():
                        gr.Examples([[p] for p in prompts], inputs=[prompt], label=group, examples_per_page=8)
                    with gr.Row():
                        backbone = gr.Radio(backbones, value="momask", label="Backbone", elem_id="backbone-radio")
                        seed = gr.Number(0, label="Seed", precision=0, minimum=0)
                    seconds = gr.Slider(0.0, MAX_SECONDS, value=0.0, step=0.1, elem_id="seconds-slider",
                                        label="Length in seconds (0: the model's length estimator)")
                    method = gr.Dropdown(methods, value=DEFAULT_METHOD, label="Unlearning method")
                    method_summary = gr.Markdown(_method_summary(DEFAULT_METHOD))
                    with gr.Accordion("Hyperparameters", open=False, visible=not safe):
                        hyperparameters = gr.Code("{}", language="json", label='Overrides as JSON, e.g. {"k": 64} '
                                                  "({} = the method's defaults)")
                    with gr.Group():
                        concept = gr.Textbox(DEFAULT_CONCEPT, label="Concept to unlearn", interactive=not safe,
                                             info="fixed in safe deployment mode" if safe else
                                             "a lexicon name (violence, kick, ...) or your own keywords, "
                                             "e.g. jump, hop, leap", elem_id="concept-box")
                        unlearn_btn = gr.Button("Apply unlearning to this concept", elem_id="unlearn-btn")
                    unlearn_summary = gr.Markdown()
                with gr.Column(scale=5):
                    warm_status = gr.Markdown(handlers.warm.message(), elem_id="warmup-status", visible=False)
                    viewer = viewer_block()
                    with gr.Row():
                        original_judge = gr.Label(label="Judge: original", visible=not safe)
                        unlearned_judge = gr.Label(label="Judge: unlearned")
                    status = gr.Markdown(elem_id="status")
                    with gr.Row(equal_height=True):
                        videos_btn = gr.Button("Render the videos (MP4)", elem_id="videos-btn", size="sm", scale=0,
                                               min_width=220)
                        auto_videos = gr.Checkbox(True, label="render the videos after every comparison",
                                                  elem_id="auto-videos", scale=1)
                    composite = gr.Video(label="original | unlearned (same seed)", autoplay=True, loop=True,
                                         elem_id="composite-video", visible=not safe, interactive=False,
                                         show_label=False)
                    with gr.Row():
                        # Each motion on its own: ready to play or download; only the composite
                        # autoplays (three decoders at once would slow a small machine down).
                        original_video = gr.Video(label="original", loop=True, show_label=False,
                                                  elem_id="original-video", visible=not safe, interactive=False)
                        unlearned_video = gr.Video(label="unlearned", loop=True, show_label=False, autoplay=safe,
                                                   elem_id="unlearned-video", interactive=False)
                    downloads = gr.File(label="Downloads: MP4, glTF (.glb, animated mannequin), BVH and NPY of both "
                                              "motions; the edit (edit.safetensors + edit.json)",
                                        file_count="multiple", interactive=False)
                    compare_api = gr.Button("compare (API)", visible=False)
                    with gr.Accordion("Edit report (JSON) and files of the last applied unlearning", open=False):
                        report_json = gr.JSON(label="EditReport")
                        edit_files = gr.File(label="Edit files", file_count="multiple", interactive=False)
                    with gr.Accordion("One model only", open=False):
                        single_model = gr.Radio(([] if safe else [ORIGINAL]) + methods,
                                                value=DEFAULT_METHOD if safe else ORIGINAL, label="Model")
                        single_btn = gr.Button("Generate with this model only", elem_id="single-btn")
                        with gr.Row():
                            single_video = gr.Video(label="motion", autoplay=True, loop=True, interactive=False)
                            single_judge = gr.Label(label="Judge")
                        with gr.Row():
                            single_npy = gr.File(label="joints (.npy)", interactive=False)
                            single_bvh = gr.File(label="BVH", interactive=False)
        with gr.Tab("Codebook inspector", id="inspector", elem_id="inspector-tab") as inspector_tab:
            gr.Markdown("Base-layer codebook (PCA): colour is the LCR score n_forget / n_retain, flagged codes "
                        "are circled, arrows go from a flagged code to its replacement. Click a code (here or "
                        "on a token timeline) to play the motion it decodes to through the edit.")
            inspect_btn = gr.Button("Inspect the current prompt", elem_id="inspect-btn")
            codebook = gr.Plot(label="Codebook map", elem_id="codebook-map")
            with gr.Row():
                timeline_original = gr.Plot(label="Original tokens", elem_id="timeline-original", visible=not safe)
                timeline_unlearned = gr.Plot(label="Unlearned tokens", elem_id="timeline-unlearned")
            with gr.Row():
                code = gr.Number(label="Code id", precision=0, minimum=0, elem_id="code-select")
                play_code = gr.Button("Play this code", elem_id="play-code")
            code_video = gr.Video(label="What the code decodes to", autoplay=True, loop=True, interactive=False,
                                  elem_id="code-video")
            shift = gr.Plot(label="Text-condition shift (UCE/RECE)", elem_id="condition-shift")
        with gr.Tab("Red team", id="redteam", elem_id="redteam-tab"):
            gr.Markdown("Attack an unlearned model: a black-box prompt search, a white-box soft prompt or a "
                        "concept vector looks for a way around the edit, from a red-team prompt (or your own). "
                        "Budgets are bounded in the app: at most **32 generations** (prompt search), **20 "
                        "optimisation steps** (soft prompt), **8 scales** (concept vector). The best prompt or "
                        "condition is then generated on the original and the unlearned model, side by side.")
            if safe:
                gr.Markdown("**Safe deployment mode**: attacks are not available.", elem_classes=["hmu-safe-banner"])
            live = not safe   # in safe mode the controls stay visible but do nothing (the API refuses too)
            with gr.Row():
                with gr.Column(scale=2, min_width=320):
                    rt_method = gr.Dropdown(methods, value=DEFAULT_METHOD, label="Unlearning method",
                                            interactive=live)
                    rt_attack = gr.Dropdown(attack_names(), value=DEFAULT_ATTACK, label="Attack", interactive=live)
                    rt_attack_summary = gr.Markdown(attack_summary(DEFAULT_ATTACK))
                    rt_start = gr.Dropdown(start_choices(DEFAULT_ATTACK), value=default_start(DEFAULT_ATTACK),
                                           allow_custom_value=True, label="Start prompt", elem_id="redteam-start",
                                           interactive=live,
                                           info="a red-team prompt of the kind the attack starts from (violent "
                                                "for prompt search, plain benign for the condition attacks), or "
                                                "type your own")
                    rt_budget = gr.Slider(1, max(APP_BUDGETS.values()), value=default_budget(DEFAULT_ATTACK),
                                          step=1, label=budget_label(DEFAULT_ATTACK), elem_id="redteam-budget",
                                          interactive=live)
                    with gr.Row():
                        rt_backbone = gr.Radio(backbones, value="momask", label="Backbone", interactive=live)
                        rt_seed = gr.Number(0, label="Seed", precision=0, minimum=0, interactive=live)
                    rt_seconds = gr.Slider(1.0, MAX_SECONDS, value=DEFAULT_SECONDS, step=0.1,
                                           label="Length of every motion in seconds", interactive=live)
                    redteam_btn = gr.Button("Run the attack", variant="primary", elem_id="redteam-btn",
                                            interactive=live)
                with gr.Column(scale=5):
                    rt_video = gr.Video(label="original | unlearned on the best prompt or condition", autoplay=True,
                                        loop=True, interactive=False, elem_id="redteam-video")
                    rt_best = gr.Textbox(label="Best prompt (condition attacks: the start prompt, whose condition "
                                         "was moved)", interactive=False, elem_id="redteam-best")
                    with gr.Row():
                        rt_before = gr.Label(label="Judge: unlearned, start prompt (before)")
                        rt_after = gr.Label(label="Judge: unlearned, best found (after)")
                    rt_parts = gr.HighlightedText(label="Composed prompt's parts in the unlearned motion",
                                                  color_map={"kept": "green", "lost": "red", "violent part": "gray"},
                                                  elem_id="redteam-parts")
                    rt_summary = gr.Markdown(elem_id="redteam-summary")
                    with gr.Accordion("Report (JSON)", open=False):
                        rt_report = gr.JSON(label="Attack run")
        with gr.Tab("Benchmark", id="benchmark"):
            gr.Markdown(_benchmark_markdown())
            plot = BENCHMARK_DIR / "tradeoff.png"
            if plot.is_file():
                gr.Image(str(plot), label="Forget/retain trade-off", interactive=False, show_label=True)

        compare_inputs = [prompt, backbone, method, seed, seconds, concept, hyperparameters]

        def compare(prompt: str, backbone: str, method: str, seed: float, seconds: float, concept: str,
                    hyperparameters: str, progress: gr.Progress = gr.Progress()):
            result = handlers.compare_result(prompt, backbone, method, seed, seconds, concept, hyperparameters,
                                             progress)
            return (*handlers.compare_outputs(result), result)

        def after_compare(result: CompareResult | None):
            """Status line and downloads (cheap: the bodies are moving in the viewer meanwhile)."""
            if result is None:
                return gr.skip(), gr.skip()
            t = result.timings
            rendering = f"rendering {t.rendering:.2f} s" if t.rendering else "videos not rendered yet"
            line = (f"{result.method} on **{result.concept}**"
                    f"{' (edit from the cache)' if result.edit_cached else ''}; "
                    f"{result.unlearned.seconds:.1f} s motion; generation {t.generation:.2f} s, judging "
                    f"{t.judging:.2f} s, {rendering}, edit {t.edit:.2f} s")
            if result.original is not None:
                line += "; the edit changed this motion" if result.changed else "; the edit left this motion unchanged"
            for note in result.notes:
                line += f"; {note}"
            if result.unlearned_judge is None:
                line += "; no judge verdicts (the judge could not be loaded)"
            if result.render_error:
                line = f"**{result.render_error[0].upper()}{result.render_error[1:]}.** {line}"
            return line, handlers.downloads(result)

        def inspect_last(result: CompareResult | None):
            """The inspector for the last comparison, built when the inspector tab is opened."""
            if result is None:
                return [gr.skip()] * 4
            view = guarded(lambda: handlers.inspector_view(result))
            return view.codebook, view.original_timeline, view.unlearned_timeline, view.condition_shift

        compare_outputs = [composite, original_video, unlearned_video, original_judge, unlearned_judge, last]
        video_outputs = [composite, original_video, unlearned_video, status, downloads]
        video_progress = [unlearned_video] if safe else [composite]
        inspector_outputs = [codebook, timeline_original, timeline_unlearned, shift]
        # The API's /compare renders the videos in the same call (as it always did); the page uses the fast
        # path: /compare_motion returns the viewer's joints and the judges, the videos follow.
        compare_api.click(compare, compare_inputs, compare_outputs, api_name="compare", concurrency_id="studio")

        def compare_motion(prompt: str, backbone: str, method: str, seed: float, seconds: float, concept: str,
                           hyperparameters: str, progress: gr.Progress = gr.Progress()):
            return handlers.compare_motion(prompt, backbone, method, seed, seconds, concept, hyperparameters,
                                           progress)

        def videos(result: CompareResult | None, auto: bool = True):
            if result is None or not auto:
                return [gr.skip()] * len(video_outputs)
            paths = handlers.render_videos(result)
            line, files = after_compare(result)
            return (*paths, line, files)

        for trigger, api in ((compare_btn.click, {"api_name": "compare_motion"}),
                             (prompt.submit, {"api_visibility": "private"})):
            trigger(compare_motion, compare_inputs, [viewer, original_judge, unlearned_judge, last], **api,
                    concurrency_id="studio", js=PAUSE_VIDEOS_JS, show_progress_on=[viewer],
                    ).success(after_compare, [last], [status, downloads], api_visibility="private",
                              ).success(videos, [last, auto_videos], video_outputs, api_visibility="private",
                                        concurrency_id="studio", show_progress_on=video_progress)
        videos_btn.click(videos, [last], video_outputs, api_visibility="private", concurrency_id="studio",
                         show_progress_on=video_progress)

        def warm_tick():
            text = handlers.warm.message()
            return gr.update(value=text, visible=bool(text)), gr.Timer(active=bool(text))

        warm_timer = gr.Timer(1.0)
        warm_timer.tick(warm_tick, None, [warm_status, warm_timer], api_visibility="private", queue=False)
        demo.load(warm_tick, None, [warm_status, warm_timer], api_visibility="private", queue=False)
        inspector_tab.select(inspect_last, [last], inspector_outputs, api_visibility="private")

        def method_changed(name: str):
            return "{}", _method_summary(name)

        method.change(method_changed, [method], [hyperparameters, method_summary], api_visibility="private")
        unlearn_btn.click(handlers.unlearn, [concept, method, hyperparameters, backbone],
                          [unlearn_summary, report_json, edit_files, codebook], api_name="unlearn",
                          concurrency_id="studio")
        single_btn.click(handlers.generate, [prompt, backbone, single_model, seed, seconds, concept, hyperparameters],
                         [single_video, single_judge, single_npy, single_bvh], api_name="generate",
                         concurrency_id="studio")
        inspect_btn.click(handlers.inspect, compare_inputs, inspector_outputs, api_name="inspect",
                          concurrency_id="studio")
        rt_attack.change(handlers.redteam_attack_changed, [rt_attack, rt_start],
                         [rt_start, rt_budget, rt_attack_summary], api_visibility="private")
        redteam_btn.click(handlers.redteam, [rt_method, rt_attack, rt_backbone, rt_start, rt_budget, rt_seed,
                                             rt_seconds],
                          [rt_video, rt_best, rt_before, rt_after, rt_parts, rt_summary, rt_report],
                          api_name="redteam", concurrency_id="studio", js=PAUSE_VIDEOS_JS, show_progress_on=[rt_video])
        play_code.click(handlers.code_motion, [code, method, concept, hyperparameters], [code_video],
                        api_name="code_motion", concurrency_id="studio")
    return demo
