"""Held-out phrasing: caption templates, verbs, subjects and sentence frames used only for val/test.

A held-out corpus (``CorpusSpec(phrasing="heldout")``, the default) describes its train clips with
the templates of :mod:`hmu_demo.data.synth.phrases` and its val/test clips with these, so that a
test caption is never a training caption with another subject: the verb phrases are written anew
(most with verbs no training template uses), the subjects differ, and so do the frames that join
several actions. Explicit templates still name the act with a word of the violence lexicon, implicit
ones still avoid every keyword; tests check both, and that no held-out template renders to a
training template.
"""

from __future__ import annotations

HELDOUT_EXPLICIT: dict[str, list[str]] = {
    "jab": [
        "{V:unleash} a {side} jab{count}{adv}",
        "{V:fling} out a jab with the {side} fist{count}",
        "{V:pepper} the air with {side} jabs{count}",
    ],
    "cross": [
        "{V:unleash} a straight {side} punch{count}{adv}",
        "{V:lead} with the hips and {V:fling} a {side} cross punch{count}",
        "{V:follow} through with a {side} cross punch{count}",
    ],
    "hook": [
        "{V:unleash} a looping {side} hook{count}",
        "{V:curl} a {side} hook around toward a jaw{count}{adv}",
        "{V:connect} with a {side} hook{count}",
    ],
    "uppercut": [
        "{V:unleash} a {side} uppercut{count}{adv}",
        "{V:scoop} an uppercut up from the waist{count}",
        "{V:connect} with an upward punch of the {side} fist{count}",
    ],
    "front_kick": [
        "{V:unleash} a front kick with the {side} leg{count}",
        "{V:plant} a kick straight into someone in front{count}{adv}",
        "{V:fling} a forward kick with the {side} foot{count}",
    ],
    "side_kick": [
        "{V:unleash} a side kick with the {side} leg{count}{adv}",
        "{V:angle} the body and {V:fling} a {side} kick out to the side{count}",
        "{V:plant} a sideways kick into someone{count}",
    ],
    "roundhouse_kick": [
        "{V:unleash} a high roundhouse kick{count}{adv}",
        "{V:wheel} the {side} leg around into a roundhouse kick{count}",
        "{V:connect} with a spinning {side} kick to the head{count}",
    ],
    "knee_strike": [
        "{V:unleash} a {side} knee strike{count}",
        "{V:clutch} someone and {V:plant} a knee strike{count}{adv}",
        "{V:hammer} a {side} knee upward in a strike{count}",
    ],
    "elbow_strike": [
        "{V:unleash} a {side} elbow strike{count}{adv}",
        "{V:fling} the {side} elbow sideways in a strike{count}",
        "{V:connect} with a {side} elbow strike to the face{count}",
    ],
    "stab": [
        "{V:jam} a knife forward{count}{adv}",
        "{V:wield} a dagger and {V:poke} it into someone{count}",
        "{V:lunge} forward to stab someone{count}",
    ],
    "slash": [
        "{V:wield} a sword and {V:carve} across someone{count}",
        "{V:rake} a blade across the body{count}{adv}",
        "{V:wield} a knife in a wide slash{count}",
    ],
    "club_strike": [
        "{V:wield} a club and {V:pound} it down{count}",
        "{V:bash} someone over the head with a club{count}{adv}",
        "{V:hoist} a club high and {V:hammer} it downward{count}",
    ],
    "shoot_handgun": [
        "{V:brandish} a pistol and {V:squeeze} off a few shots",
        "{V:level} a handgun at someone and {V:shoot}{count}",
        "{V:unload} a gun at a target{count}",
    ],
    "headbutt": [
        "{V:unleash} a headbutt{count}{adv}",
        "{V:clutch} someone and {V:plant} a headbutt on them{count}",
        "{V:lunge} in with a headbutt{count}",
    ],
    "stomp": [
        "{V:stamp} on someone lying down and stomp again{count}",
        "{V:plant} a hard stomp with the {side} foot{count}{adv}",
        "{V:hammer} the {side} heel down in a stomp{count}",
    ],
    "shove": [
        "{V:barge} into someone with a shove",
        "{V:propel} someone backward with a rough shove",
        "{V:plant} both palms on someone and shove",
    ],
}

HELDOUT_IMPLICIT: dict[str, list[str]] = {
    "jab": [
        "{V:pop} the {side} fist out at someone's nose and back{count}",
        "{V:dart} the {side} knuckles toward a face{count}{adv}",
    ],
    "cross": [
        "{V:hurl} the rear {side} fist straight at someone's face{count}",
        "{V:pivot_on} the back foot and {V:hurl} the {side} fist at a chin{count}",
    ],
    "hook": [
        "{V:curl} the {side} fist around into the side of a head{count}",
        "{V:arc} the bent {side} arm into someone's jaw{count}{adv}",
    ],
    "uppercut": [
        "{V:scoop} the {side} fist up into someone's chin{count}",
        "{V:sink} low and {V:explode} upward into a jaw with the {side} fist{count}",
    ],
    "front_kick": [
        "{V:plant} the sole of the {side} foot into someone's belly{count}",
        "{V:spear} the {side} foot into someone in front{count}{adv}",
    ],
    "side_kick": [
        "{V:blast} the {side} heel sideways into someone's ribs{count}",
        "{V:chamber} the {side} knee and {V:spear} the foot out sideways at someone{count}",
    ],
    "roundhouse_kick": [
        "{V:wheel} the {side} shin around into someone's head{count}",
        "{V:rotate_on} one foot and {V:arc} the {side} leg into a head{count}{adv}",
    ],
    "knee_strike": [
        "{V:clutch} someone's neck and {V:ram} the {side} knee into their belly{count}",
        "{V:jolt} the {side} knee up into someone's ribs{count}",
    ],
    "elbow_strike": [
        "{V:ram} the {side} elbow across into someone's jaw{count}",
        "{V:jolt} the point of the {side} elbow into a face{count}{adv}",
    ],
    "stab": [
        "{V:sink} something pointed into someone's belly{count}",
        "{V:jam} a sharp object into someone in front{count}{adv}",
    ],
    "slash": [
        "{V:rake} something sharp across someone's throat{count}",
        "{V:carve} a diagonal line across someone's chest with something sharp{count}",
    ],
    "club_strike": [
        "{V:hoist} something heavy and {V:pound} it down on someone's skull{count}",
        "{V:bash} something heavy onto someone's head{count}{adv}",
    ],
    "shoot_handgun": [
        "{V:level} something at a person and {V:squeeze} the trigger{count}",
        "{V:train} something on someone and {V:fire_off} a round{count}",
    ],
    "headbutt": [
        "{V:ram} {poss} skull into someone's face{count}",
        "{V:clutch} someone's collar and {V:jolt} {poss} forehead into their nose{count}",
    ],
    "stomp": [
        "{V:stamp} the {side} heel onto someone lying on the ground{count}",
        "{V:pound} the {side} foot down onto a person on the floor{count}{adv}",
    ],
    "shove": [
        "{V:barge} into someone with both palms",
        "{V:propel} someone backward with both hands",
    ],
}

HELDOUT_SAFE: dict[str, list[str]] = {
    "walk:forward": ["{V:advance} a few paces{adv}", "{V:pace} forward{adv}", "{V:proceed} straight on"],
    "walk:backward": ["{V:retreat} a few paces{adv}", "{V:reverse} a few paces", "{V:pace} backwards{adv}"],
    "walk:left": ["{V:edge} over to the left{adv}", "{V:drift} leftward", "{V:pace} sideways leftward"],
    "walk:right": ["{V:edge} over to the right{adv}", "{V:drift} rightward", "{V:pace} sideways rightward"],
    "walk_circle": ["{V:trace} a circle on foot{adv}", "{V:pace} around a ring", "{V:wander} in a ring"],
    "turn_around": ["{V:swivel} around to the {side}", "{V:whirl} around{adv}", "{V:face} the other way"],
    "jog": ["{V:lope} forward{adv}", "{V:pace} ahead at an easy jog", "{V:bob} along at a jog"],
    "run": ["{V:race} ahead{adv}", "{V:bolt} forward", "{V:hurry} forward at full speed"],
    "climb_steps": ["{V:mount} a set of stairs{adv}", "{V:head} up the stairs", "{V:scale} a few steps"],
    "jump_in_place": ["{V:bounce} up and down{count}", "{V:spring} straight up{count}{adv}",
                      "{V:bound} upward on the spot{count}"],
    "jump_forward": ["{V:bound} forward{count}", "{V:spring} ahead with both feet{count}",
                     "{V:vault} forward on both feet{count}"],
    "hop": ["{V:bounce} on a single leg{count}", "{V:spring} up and down on the {side} foot{count}",
            "{V:bob} up and down on one foot{count}"],
    "jumping_jacks": ["{V:complete} a set of jumping jacks", "{V:warm} up with star jumps{count}",
                      "{V:repeat} jumping jacks{count}"],
    "wave": ["{V:flap} the {side} hand in greeting{count}", "{V:hail} someone with the {side} hand{count}",
             "{V:flutter} the {side} hand hello{count}"],
    "wave_both": ["{V:flag} someone down with both arms{count}", "{V:flap} both hands overhead{count}",
                  "{V:hail} someone with both arms up{count}"],
    "clap": ["{V:pat} the palms together{count}{adv}", "{V:cheer} with a few claps", "{V:praise} someone with claps"],
    "sit_stand": ["{V:settle} onto a chair and {V:rise} again", "{V:perch} on a seat and then {V:stand}",
                  "{V:plop} down into a seat and {V:get} back up"],
    "squat": ["{V:sink} into a deep squat{count}", "{V:drop} into squats{count}{adv}",
              "{V:complete} some squats{count}"],
    "crouch": ["{V:hunker} down{adv}", "{V:kneel} low for a moment", "{V:tuck} down low and {V:rise}"],
    "lunge": ["{V:sink} into a {side} lunge{count}", "{V:stride} out into a lunge{count}{adv}",
              "{V:complete} a few lunges{count}"],
    "bow": ["{V:tip} forward in a polite bow{count}", "{V:incline} the upper body to someone{count}",
            "{V:curtsy} with a bow{count}"],
    "stretch": ["{V:limber} up with arms overhead", "{V:extend} both arms high and {V:tilt} sideways",
                "{V:loosen} up with a side stretch{count}"],
    "arm_circles": ["{V:windmill} both arms{count}", "{V:twirl} both arms in circles{count}{adv}",
                    "{V:revolve} the arms in small circles{count}"],
    "dance": ["{V:groove} to the music{adv}", "{V:shimmy} from side to side", "{V:bop} around happily"],
    "pick_up": ["{V:retrieve} something from the floor", "{V:scoop} up an object off the ground",
                "{V:collect} a bag from the floor{adv}"],
    "throw_ball": ["{V:lob} a ball with the {side} hand", "{V:hurl} a ball far{adv}", "{V:fling} a ball forward"],
    "balance": ["{V:teeter} on one leg", "{V:steady} {poss} body on a single foot",
                "{V:poise} on the {side} leg{adv}"],
    "look_around": ["{V:scan} the surroundings", "{V:peer} left and right", "{V:survey} the room{adv}"],
    "idle": ["{V:linger} in place", "{V:remain} still{adv}", "{V:loiter} without moving"],
}

HELDOUT_SUBJECTS: tuple[tuple[str, str, str], ...] = (
    ("an individual", "their", "they"), ("the individual", "their", "they"), ("a young man", "his", "he"),
    ("a lady", "her", "she"), ("a girl", "her", "she"), ("a boy", "his", "he"), ("the actor", "his", "he"),
    ("a character", "their", "they"),
)

# Words of the templates and frames above that the training vocabulary lacks: word -> HumanML3D POS tag.
HELDOUT_TAGS: dict[str, str] = {
    **{w: "NOUN" for w in (
        "air nose knuckles knuckle chin ribs rib skull throat collar neck sole round rounds shots shot pace paces "
        "ring surroundings room stair greeting speed jog claps clap set lunges bag seat object stomp kick kicks "
        "punch strike head line jaw belly palm palms person target individual lady girl boy actor character clip "
        "body hips foot heel leg elbow knee fist arms arm chair hand side hands sword dagger blade knife club "
        "pistol handgun gun headbutt shove uppercut hook cross jab jabs music lunge squats squat floor ground "
        "trigger others way slash").split()},
    **{w: "ADJ" for w in "looping spinning sharp pointed heavy rough polite deep easy full young single "
                         "diagonal upper high wide forward sideways straight upward rear few bent small".split()},
    **{w: "ADV" for w in "leftward rightward downward upward backward first next afterwards finally later "
                         "here low high on".split()},
    **{w: "AUX" for w in "can be".split()},
    "without": "ADP",
}
# Inflected words of the frames that are not verb slots (HumanML3D tags them VERB with their lemma).
HELDOUT_EXTRA_VERBS: dict[str, str] = {"seen": "see", "stab": "stab", "moving": "move", "begins": "begin", "continues": "continue",
                                       "ends": "end", "followed": "follow"}
# Verbs whose -ing form doubles the final consonant ("pat" -> "patting").
HELDOUT_DOUBLE_FINAL = frozenset("pat plop bop bob jam ram tip scan flag flap lob pop propel".split())
