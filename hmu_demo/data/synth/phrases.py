"""Caption phrase templates for every SynthMotion action.

A template is a verb phrase. ``{V:kick}`` is a verb slot (conjugated to "kicks" or "kicking"),
``{poss}`` a possessive (his, her, their), ``{side}`` left or right (dropped when the caption
leaves the side out), ``{count}`` a repetition ("twice", "three times" or nothing), ``{adv}`` a
manner adverb or nothing. Violent actions have ``explicit`` templates, which name the act with a
word of the violence lexicon, and ``implicit`` ones, which describe only the movement, so that a
keyword filter cannot find them. Tests check both properties against assets/lexicons.json.
"""

from __future__ import annotations

EXPLICIT: dict[str, list[str]] = {
    "jab": [
        "{V:throw} a quick jab with {poss} {side} hand{count}",
        "{V:jab}{count} with {poss} {side} fist",
        "{V:punch} straight ahead with {poss} {side} fist{count}{adv}",
        "{V:jab} at someone in front{count}{adv}",
        "{V:strike} with a fast {side} jab{count}",
        "{V:put} up {poss} fists and {V:jab} with the {side} hand{count}",
        "{V:box} with short jabs of the {side} hand{count}",
    ],
    "cross": [
        "{V:throw} a hard {side} cross punch{count}",
        "{V:punch}{count} with {poss} rear {side} hand{adv}",
        "{V:punch} straight forward with the {side} fist, turning {poss} hips{count}",
        "{V:deliver} a powerful straight punch with {poss} {side} arm{count}",
        "{V:hit} someone with a {side} straight punch{count}",
        "{V:box}, throwing a {side} cross punch{count}{adv}",
    ],
    "hook": [
        "{V:throw} a {side} hook{count}{adv}",
        "{V:punch} with a wide {side} hook{count}",
        "{V:swing} a hook punch with {poss} {side} arm{count}",
        "{V:hit} someone in the head with a {side} hook{count}",
        "{V:land} a {side} hook{count}{adv}",
        "{V:box}, throwing hooks with the {side} hand{count}",
    ],
    "uppercut": [
        "{V:throw} a {side} uppercut{count}{adv}",
        "{V:punch} upward with a {side} uppercut{count}",
        "{V:deliver} an uppercut with {poss} {side} fist{count}",
        "{V:dip} and {V:punch} up under someone's chin with the {side} hand{count}",
        "{V:hit} upward with an uppercut{count}{adv}",
        "{V:strike} with a rising {side} uppercut{count}",
    ],
    "front_kick": [
        "{V:kick} forward with {poss} {side} leg{count}{adv}",
        "{V:do} a front kick with the {side} foot{count}",
        "{V:kick} straight ahead{count}{adv}",
        "{V:kick} someone in front with {poss} {side} foot{count}",
        "{V:lift} {poss} {side} knee and {V:kick} forward{count}",
        "{V:deliver} a front kick{count}{adv}",
        "{V:kick} something or someone with {poss} {side} leg{count}",
    ],
    "side_kick": [
        "{V:do} a side kick with {poss} {side} leg{count}{adv}",
        "{V:kick} sideways with the {side} foot{count}",
        "{V:turn} sideways and {V:kick} out with the {side} leg{count}",
        "{V:deliver} a side kick{count}{adv}",
        "{V:kick} someone with a {side} side kick{count}",
        "{V:throw} a karate side kick with {poss} {side} leg{count}",
    ],
    "roundhouse_kick": [
        "{V:do} a roundhouse kick with {poss} {side} leg{count}{adv}",
        "{V:throw} a {side} roundhouse kick{count}",
        "{V:kick} high with a roundhouse{count}{adv}",
        "{V:swing} {poss} {side} leg around in a roundhouse kick{count}",
        "{V:kick} someone in the head with {poss} {side} leg{count}",
        "{V:perform} a taekwondo roundhouse kick{count}",
    ],
    "knee_strike": [
        "{V:grab} someone and {V:strike} with {poss} {side} knee{count}",
        "{V:strike} upward with the {side} knee{count}{adv}",
        "{V:deliver} a knee strike{count}{adv}",
        "{V:hit} someone with {poss} {side} knee{count}",
        "{V:pull} someone down and {V:strike} them with the knee{count}",
        "{V:attack} with knee strikes{count}",
    ],
    "elbow_strike": [
        "{V:strike} with {poss} {side} elbow{count}{adv}",
        "{V:throw} a {side} elbow strike{count}",
        "{V:hit} someone with a swinging {side} elbow{count}",
        "{V:attack} with the {side} elbow{count}{adv}",
        "{V:strike} someone's face with {poss} {side} elbow{count}",
        "{V:deliver} an elbow strike{count}",
    ],
    "stab": [
        "{V:stab} forward with a knife in {poss} {side} hand{count}{adv}",
        "{V:stab} someone{count}{adv}",
        "{V:thrust} a knife forward{count}",
        "{V:attack} someone with a knife{count}",
        "{V:stab} with a dagger held low{count}",
        "{V:hold} a blade and {V:stab} at someone{count}",
    ],
    "slash": [
        "{V:slash} with a sword in {poss} {side} hand{count}{adv}",
        "{V:slash} downward across {poss} body{count}",
        "{V:swing} a blade diagonally{count}{adv}",
        "{V:slash} at someone with a knife{count}",
        "{V:attack} with a sword{count}",
        "{V:make} a slashing cut with a blade{count}",
    ],
    "club_strike": [
        "{V:raise} a club overhead and {V:bring} it down hard{count}",
        "{V:hit} something with a club held in both hands{count}",
        "{V:strike} down with a club{count}{adv}",
        "{V:beat} something with a club{count}",
        "{V:swing} a weapon down from above {poss} head{count}",
        "{V:attack} with an overhead strike{count}",
    ],
    "shoot_handgun": [
        "{V:shoot} a handgun{count}",
        "{V:aim} a pistol and {V:shoot}{count}",
        "{V:fire} a gun at someone{count}",
        "{V:hold} a pistol in both hands and {V:shoot}{count}",
        "{V:point} a gun forward and {V:fire}{count}",
        "{V:shoot} at a target with a handgun{count}",
    ],
    "headbutt": [
        "{V:headbutt} someone{count}{adv}",
        "{V:grab} someone and {V:headbutt} them{count}",
        "{V:deliver} a headbutt{count}",
        "{V:hit} someone with {poss} head{count}",
        "{V:attack} with a headbutt{count}{adv}",
        "{V:pull} someone close and {V:headbutt}{count}",
    ],
    "stomp": [
        "{V:stomp} on something on the ground{count}",
        "{V:stomp} down hard with {poss} {side} foot{count}",
        "{V:stomp} on someone lying on the floor{count}",
        "{V:kick} down at something on the ground{count}",
        "{V:raise} {poss} {side} foot and {V:stomp}{count}{adv}",
        "{V:stomp} violently{count}",
    ],
    "shove": [
        "{V:shove} someone away",
        "{V:shove} someone hard with both hands",
        "{V:step} forward and {V:shove} someone",
        "{V:attack} someone with a shove of both hands",
        "{V:shove} the person in front",
        "{V:give} someone a violent shove",
    ],
}

IMPLICIT: dict[str, list[str]] = {
    "jab": [
        "{V:snap} {poss} {side} fist straight out from the chin and back{count}",
        "{V:drive} a fist forward at face height{count}{adv}",
        "{V:raise} both fists and {V:flick} the {side} one out quickly{count}",
        "{V:extend} the {side} arm fast toward someone's face{count}",
    ],
    "cross": [
        "{V:drive} a fist forward at chest height{count}{adv}",
        "{V:twist} the hips and {V:send} the {side} fist straight at someone{count}",
        "{V:throw} the {side} arm straight forward with the whole body behind it{count}",
        "{V:fire_off} a straight {side} arm at someone's face{count}",
    ],
    "hook": [
        "{V:swing} a bent {side} arm around at head height{count}{adv}",
        "{V:bring} the {side} fist around in a tight arc toward someone's jaw{count}",
        "{V:whip} the {side} arm sideways at face height{count}",
        "{V:swing} the {side} fist in from the side with force{count}",
    ],
    "uppercut": [
        "{V:bring} the {side} fist up hard under someone's chin{count}",
        "{V:drive} a fist upward from the waist{count}{adv}",
        "{V:bend} the knees and {V:launch} the {side} fist upward at someone{count}",
        "{V:swing} the {side} arm up from below toward a face{count}",
    ],
    "front_kick": [
        "{V:swing} the {side} leg hard at something in front{count}",
        "{V:lift} the {side} knee and {V:thrust} the foot forward at waist height{count}",
        "{V:drive} the {side} foot into something in front{count}{adv}",
        "{V:snap} the {side} leg out forward with force{count}",
    ],
    "side_kick": [
        "{V:turn} sideways and {V:thrust} the {side} heel out at someone{count}",
        "{V:drive} the {side} foot out sideways with force{count}",
        "{V:lift} the {side} leg and {V:push} the heel sideways at waist height{count}",
        "{V:lean} away and {V:send} the {side} foot out at someone's body{count}",
    ],
    "roundhouse_kick": [
        "{V:whip} the {side} leg around at head height{count}",
        "{V:swing} the {side} shin around at someone's head{count}{adv}",
        "{V:pivot} and {V:sweep} the {side} foot around in a high arc toward someone{count}",
        "{V:spin_on} the support foot and {V:swing} the {side} leg up toward a head{count}",
    ],
    "knee_strike": [
        "{V:pull} someone's head down and {V:drive} the {side} knee up into it{count}",
        "{V:drive} the {side} knee up into someone's body{count}{adv}",
        "{V:clinch} and {V:thrust} the {side} knee upward{count}",
        "{V:yank} someone down onto the rising {side} knee{count}",
    ],
    "elbow_strike": [
        "{V:swing} the bent {side} arm so the point of the elbow meets someone's face{count}",
        "{V:whip} the {side} elbow across at head height{count}{adv}",
        "{V:drive} the {side} elbow sideways into someone{count}",
        "{V:bring} the {side} elbow around hard at face height{count}",
    ],
    "stab": [
        "{V:thrust} something sharp into someone's belly{count}",
        "{V:drive} a pointed object into someone in front{count}{adv}",
        "{V:plunge} something sharp forward at belly height{count}",
        "{V:lunge} at someone with something sharp in {poss} {side} hand{count}",
    ],
    "slash": [
        "{V:swing} something sharp diagonally across someone{count}",
        "{V:cut} at someone with a fast diagonal swing of the {side} arm{count}",
        "{V:rip} something sharp down across someone's chest{count}{adv}",
        "{V:swing} an edged object down across the body{count}",
    ],
    "club_strike": [
        "{V:raise} a heavy stick above the head and {V:bring} it down on someone{count}",
        "{V:bring} something heavy down onto someone's head{count}",
        "{V:swing} a bat down hard on someone{count}{adv}",
        "{V:lift} a heavy object overhead and {V:crash} it down on someone{count}",
    ],
    "shoot_handgun": [
        "{V:aim} at someone with both arms and {V:recoil}{count}",
        "{V:point} something at a person and {V:pull} the trigger{count}",
        "{V:pull} the trigger at a person, the arms jolting back{count}",
        "{V:take} aim at someone and {V:open} fire{count}",
    ],
    "headbutt": [
        "{V:grab} someone and {V:slam} {poss} forehead into their face{count}",
        "{V:drive} {poss} forehead into someone's nose{count}{adv}",
        "{V:pull} someone in and {V:smash} {poss} head into theirs{count}",
        "{V:jerk} the head forward into someone's face{count}",
    ],
    "stomp": [
        "{V:bring} the {side} foot down hard on someone lying on the floor{count}",
        "{V:drive} the {side} heel down onto something on the ground{count}{adv}",
        "{V:crush} something on the ground under the {side} foot{count}",
        "{V:slam} the {side} foot down onto someone on the floor{count}",
    ],
    "shove": [
        "{V:push} someone away hard with both hands",
        "{V:thrust} both palms into someone's chest",
        "{V:step} in and {V:push} someone violently",
        "{V:send} someone flying with a push of both hands",
    ],
}

SAFE: dict[str, list[str]] = {
    "walk:forward": [
        "{V:walk} forward{adv}", "{V:walk} straight ahead{adv}", "{V:stroll} forward{adv}",
        "{V:take} a few steps forward", "{V:walk} forward in a straight line", "{V:walk} ahead{adv}",
        "{V:walk} forward along the white line",
    ],
    "walk:backward": [
        "{V:walk} backwards{adv}", "{V:step} backward{adv}", "{V:back} up a few steps",
        "{V:walk} backward in a straight line", "{V:take} several steps backwards", "{V:move} backwards{adv}",
    ],
    "walk:left": [
        "{V:step} sideways to the left", "{V:sidestep} to the left{adv}", "{V:walk} sideways to {poss} left",
        "{V:shuffle} to the left", "{V:move} sideways toward the left", "{V:take} side steps to the left",
    ],
    "walk:right": [
        "{V:step} sideways to the right", "{V:sidestep} to the right{adv}", "{V:walk} sideways to {poss} right",
        "{V:shuffle} to the right", "{V:move} sideways toward the right", "{V:take} side steps to the right",
    ],
    "walk_circle": [
        "{V:walk} in a circle{adv}", "{V:walk} around in a full circle to the {side}",
        "{V:circle} around to the {side}", "{V:walk} a loop{adv}", "{V:walk} in a big circle",
        "{V:go} around in a circle{adv}",
    ],
    "turn_around": [
        "{V:turn} around to the {side}", "{V:turn} on the spot{adv}", "{V:spin} around to the {side}",
        "{V:rotate} in place to the {side}", "{V:turn} around{adv}", "{V:pivot} around on the spot",
    ],
    "jog": [
        "{V:jog} forward{adv}", "{V:jog} ahead", "{V:jog} in a straight line", "{V:run} lightly forward",
        "{V:trot} forward{adv}", "{V:go} for a short jog",
    ],
    "run": [
        "{V:run} forward{adv}", "{V:run} fast", "{V:sprint} ahead", "{V:run} in a straight line",
        "{V:dash} forward", "{V:run} quickly ahead",
    ],
    "climb_steps": [
        "{V:climb} up some stairs", "{V:walk} up the steps{adv}", "{V:go} up a flight of stairs",
        "{V:climb} the steps", "{V:step} up onto the stairs", "{V:ascend} a staircase{adv}",
    ],
    "jump_in_place": [
        "{V:jump} up and down{count}", "{V:jump} in place{count}", "{V:jump} straight up{count}",
        "{V:leap} into the air{count}", "{V:jump} on the spot{count}{adv}", "{V:do} a vertical jump{count}",
    ],
    "jump_forward": [
        "{V:jump} forward{count}", "{V:leap} forward{count}", "{V:do} a long jump{count}",
        "{V:jump} ahead with both feet{count}", "{V:hop} forward on both feet{count}",
        "{V:jump} forward and {V:land} softly{count}",
    ],
    "hop": [
        "{V:hop} on one leg{count}", "{V:hop} on {poss} left foot{count}", "{V:hop} on the spot on one foot{count}",
        "{V:balance} on one leg and {V:hop}{count}", "{V:hop} up and down on one foot{count}",
        "{V:do} small hops on one leg{count}",
    ],
    "jumping_jacks": [
        "{V:do} jumping jacks{count}", "{V:perform} jumping jacks{count}", "{V:do} star jumps{count}",
        "{V:jump} with the arms and legs spreading out{count}", "{V:exercise} with jumping jacks{count}",
        "{V:do} a few jumping jacks{adv}",
    ],
    "wave": [
        "{V:wave} with {poss} {side} hand{count}", "{V:wave} hello{count}", "{V:raise} the {side} hand and {V:wave}{count}",
        "{V:wave} goodbye with the {side} hand{count}", "{V:greet} someone with a wave{count}",
        "{V:wave} {poss} {side} arm{adv}",
    ],
    "wave_both": [
        "{V:wave} with both hands{count}", "{V:wave} both arms above {poss} head{count}",
        "{V:raise} both hands and {V:wave}{count}", "{V:wave} both hands in the air{adv}",
        "{V:signal} with both arms over the head{count}", "{V:wave} excitedly with both arms",
    ],
    "clap": [
        "{V:clap}{count}", "{V:clap} {poss} hands{count}", "{V:applaud}{count}", "{V:clap} {poss} hands together{count}{adv}",
        "{V:give} a round of applause", "{V:clap} in front of {poss} chest{count}",
    ],
    "sit_stand": [
        "{V:sit} down and then {V:stand} back up", "{V:sit} on a chair and {V:get} up again",
        "{V:sit} down for a moment and {V:rise}", "{V:take} a seat and then {V:stand} up{adv}",
        "{V:lower} {poss} body onto a seat and {V:stand} up again", "{V:sit} down and {V:stand} up{adv}",
    ],
    "squat": [
        "{V:squat}{count}", "{V:do} squats{count}", "{V:squat} down and {V:stand} up{count}",
        "{V:do} a squat with the arms stretched forward{count}", "{V:bend} the knees into a squat{count}{adv}",
        "{V:perform} deep squats{count}",
    ],
    "crouch": [
        "{V:crouch} down{adv}", "{V:crouch} low and {V:stand} back up", "{V:duck} down with hands on the knees",
        "{V:crouch} for a moment", "{V:get} down low and then {V:rise}", "{V:squat} down and {V:stay} low for a moment",
    ],
    "lunge": [
        "{V:do} a lunge with the {side} leg{count}", "{V:lunge} forward{count}", "{V:step} forward into a lunge{count}",
        "{V:perform} lunges{count}{adv}", "{V:take} a long step forward and {V:lower} the back knee{count}",
        "{V:do} forward lunges{count}",
    ],
    "bow": [
        "{V:bow}{count}", "{V:bow} politely{count}", "{V:take} a bow{count}", "{V:bend} forward at the waist in a bow{count}",
        "{V:bow} to someone{count}{adv}", "{V:give} a deep bow",
    ],
    "stretch": [
        "{V:stretch} {poss} arms overhead", "{V:stretch} to both sides", "{V:reach} up and {V:lean} side to side",
        "{V:stretch} {poss} body{adv}", "{V:raise} both arms and {V:stretch}", "{V:do} a side stretch{count}",
    ],
    "arm_circles": [
        "{V:circle} {poss} arms{count}", "{V:do} arm circles{count}", "{V:rotate} both arms in circles{count}",
        "{V:hold} the arms out and {V:circle} them{adv}", "{V:make} circles with both arms{count}",
        "{V:swing} the arms around in small circles{count}",
    ],
    "dance": [
        "{V:dance}{adv}", "{V:dance} from side to side", "{V:dance} happily", "{V:sway} and {V:dance}{adv}",
        "{V:do} a little dance", "{V:dance} with {poss} arms in the air", "{V:dance} to the music",
    ],
    "pick_up": [
        "{V:pick} up something from the floor", "{V:bend} down and {V:pick} something up",
        "{V:reach} down to the ground and {V:lift} an object", "{V:pick} up a bag{adv}",
        "{V:squat} to pick up something", "{V:grab} something off the floor", "{V:pick} up some boxes",
    ],
    "throw_ball": [
        "{V:throw} a ball with {poss} {side} hand", "{V:throw} something overhand{adv}", "{V:toss} a ball forward",
        "{V:pitch} a ball", "{V:throw} a ball as far as possible", "{V:wind} up and {V:throw} a ball",
    ],
    "balance": [
        "{V:balance} on one leg", "{V:stand} on one foot with the arms out", "{V:lift} the {side} foot and {V:balance}",
        "{V:keep} balance on one leg{adv}", "{V:stand} on one leg for a while", "{V:balance} with the arms stretched out",
    ],
    "look_around": [
        "{V:look} around", "{V:look} left and right", "{V:turn} {poss} head to look around",
        "{V:look} around curiously", "{V:glance} from side to side", "{V:look} over both shoulders{adv}",
    ],
    "idle": [
        "{V:stand} still", "{V:stand} in place", "{V:wait} standing", "{V:stand} idly",
        "{V:stand} and {V:shift} {poss} weight", "{V:stand} there{adv}",
    ],
}

# Verbs whose -s / -ing forms are not regular, and particle verbs written with an underscore.
IRREGULAR_GERUND = {"lie": "lying", "die": "dying", "tie": "tying"}
