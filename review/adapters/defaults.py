"""Default policy data for the adapters: the taxonomy, label maps and cut points.

A migration seeds these into the database, where policy admins edit them, so
everything here is plain JSON-ready data (dicts, lists, strings, numbers) and
nothing reads it at request time except through the database copy. The
reasons behind each mapping and cut point are in docs/adapters.md.
"""

from __future__ import annotations

from typing import Final

HARM_DIMENSIONS: Final = ("physical", "psychological", "economic", "societal", "autonomy")

CATEGORIES: Final[list[dict[str, object]]] = [
    {
        "slug": "hate",
        "name": "Hate",
        "description": (
            "Content that attacks, demeans or calls for exclusion of people because of a "
            "protected attribute such as race, ethnicity, religion, nationality, gender, sexual "
            "orientation, disability or caste. Includes hateful threats against such a group."
        ),
        "harm_dimensions": ["psychological", "societal"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "harassment",
        "name": "Harassment",
        "description": (
            "Insults, bullying, intimidation or threats aimed at an individual, and toxic, "
            "profane or abusive language generally. Also covers false, damaging claims about a "
            "real person."
        ),
        "harm_dimensions": ["psychological"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "sexual",
        "name": "Sexual content",
        "description": (
            "Sexually explicit descriptions, erotic content and sexual solicitation involving "
            "adults. Anything sexual involving a minor belongs to child safety instead."
        ),
        "harm_dimensions": ["psychological"],
        "sensitive": True,
        "adjustable": True,
    },
    {
        "slug": "violence",
        "name": "Violence",
        "description": (
            "Threats, glorification or incitement of violence against people or animals, "
            "graphic depictions of injury or gore, violent extremism, and violent or sexual "
            "crimes such as assault, kidnapping or trafficking."
        ),
        "harm_dimensions": ["physical", "psychological"],
        "sensitive": True,
        "adjustable": True,
    },
    {
        "slug": "self_harm",
        "name": "Self-harm",
        "description": (
            "Content that encourages, instructs in or expresses intent toward suicide, "
            "self-injury or disordered eating. Reviewers should treat expressions of intent as "
            "a person possibly at risk."
        ),
        "harm_dimensions": ["physical", "psychological"],
        "sensitive": True,
        "adjustable": True,
    },
    {
        "slug": "dangerous",
        "name": "Dangerous activities",
        "description": (
            "Help with acquiring or making weapons, including chemical, biological, "
            "radiological, nuclear and explosive ones, with committing crimes, or with "
            "dangerous acts likely to cause serious injury."
        ),
        "harm_dimensions": ["physical", "societal"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "cyber",
        "name": "Cyber abuse",
        "description": (
            "Malware, exploits, intrusion into systems or accounts, and attempts to abuse the "
            "product's own tools, such as a code interpreter, to attack infrastructure."
        ),
        "harm_dimensions": ["economic", "societal"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "fraud_spam",
        "name": "Fraud and spam",
        "description": (
            "Scams, phishing, impersonation, fake reviews and other deception for gain, and "
            "unsolicited bulk or promotional content."
        ),
        "harm_dimensions": ["economic", "autonomy"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "elections",
        "name": "Elections and civic integrity",
        "description": (
            "False or misleading information about when, where or how to vote, or about "
            "electoral processes and results, and content meant to suppress or manipulate "
            "participation in civic life."
        ),
        "harm_dimensions": ["societal", "autonomy"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "privacy",
        "name": "Privacy",
        "description": (
            "Exposure or solicitation of personal or sensitive information about a private "
            "individual, such as addresses, identity numbers, health data or doxxing."
        ),
        "harm_dimensions": ["psychological", "autonomy"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "medical",
        "name": "Medical and specialised advice",
        "description": (
            "Unqualified or unsafe medical, legal or financial advice that a person might act "
            "on to their harm. An integration built for professionals may allow it."
        ),
        "harm_dimensions": ["physical", "economic"],
        "sensitive": False,
        "adjustable": True,
    },
    {
        "slug": "child_safety",
        "name": "Child safety",
        "description": (
            "Sexualisation or exploitation of minors, grooming, and content that otherwise "
            "endangers children. Never adjustable: every signal is reviewed, first."
        ),
        "harm_dimensions": ["physical", "psychological", "societal"],
        "sensitive": True,
        "adjustable": False,
    },
    {
        "slug": "other",
        "name": "Other",
        "description": (
            "Signals whose label maps to no category above, such as intellectual property, "
            "generic blocks or a classifier's new labels. Review them to decide whether the "
            "label map needs an entry."
        ),
        "harm_dimensions": [],
        "sensitive": False,
        "adjustable": True,
    },
]

CATEGORY_SLUGS: Final = tuple(str(category["slug"]) for category in CATEGORIES)
FALLBACK_CATEGORY: Final = "other"

# Llama Guard 3 and 4 (MLCommons hazard taxonomy). Claude's guide uses the
# same hazards by name, so both tables derive from this one.
_MLCOMMONS: Final = {
    "S1": ("Violent Crimes", "violence"),
    "S2": ("Non-Violent Crimes", "dangerous"),
    # Sex-related crimes (assault, trafficking) go to violence, not sexual: an
    # adult platform that switches sexual content off must still see them.
    "S3": ("Sex-Related Crimes", "violence"),
    "S4": ("Child Sexual Exploitation", "child_safety"),
    "S5": ("Defamation", "harassment"),
    "S6": ("Specialized Advice", "medical"),
    "S7": ("Privacy", "privacy"),
    "S8": ("Intellectual Property", "other"),
    "S9": ("Indiscriminate Weapons", "dangerous"),
    "S10": ("Hate", "hate"),
    "S11": ("Suicide & Self-Harm", "self_harm"),
    "S12": ("Sexual Content", "sexual"),
    "S13": ("Elections", "elections"),
    "S14": ("Code Interpreter Abuse", "cyber"),
}

LABEL_MAP: Final[dict[str, dict[str, str]]] = {
    "openai": {
        # omni-moderation and the legacy text-moderation models.
        "harassment": "harassment",
        "harassment/threatening": "harassment",
        "hate": "hate",
        "hate/threatening": "hate",
        "illicit": "dangerous",
        "illicit/violent": "dangerous",
        "self-harm": "self_harm",
        "self-harm/intent": "self_harm",
        "self-harm/instructions": "self_harm",
        "sexual": "sexual",
        "sexual/minors": "child_safety",
        "violence": "violence",
        "violence/graphic": "violence",
    },
    "perspective": {
        "TOXICITY": "harassment",
        "SEVERE_TOXICITY": "harassment",
        "IDENTITY_ATTACK": "hate",
        "INSULT": "harassment",
        "PROFANITY": "harassment",
        "THREAT": "violence",
        "SEXUALLY_EXPLICIT": "sexual",
        "FLIRTATION": "sexual",
        "TOXICITY_EXPERIMENTAL": "harassment",
        "SEVERE_TOXICITY_EXPERIMENTAL": "harassment",
        "IDENTITY_ATTACK_EXPERIMENTAL": "hate",
        "INSULT_EXPERIMENTAL": "harassment",
        "PROFANITY_EXPERIMENTAL": "harassment",
        "THREAT_EXPERIMENTAL": "violence",
        # The New York Times attributes.
        "ATTACK_ON_AUTHOR": "harassment",
        "ATTACK_ON_COMMENTER": "harassment",
        "INFLAMMATORY": "harassment",
        "OBSCENE": "harassment",
        "SPAM": "fraud_spam",
        "INCOHERENT": "other",
        "LIKELY_TO_REJECT": "other",
        "UNSUBSTANTIAL": "other",
    },
    "gemini": {
        # PaLM's categories.
        "HARM_CATEGORY_DEROGATORY": "hate",
        "HARM_CATEGORY_TOXICITY": "harassment",
        "HARM_CATEGORY_VIOLENCE": "violence",
        "HARM_CATEGORY_SEXUAL": "sexual",
        "HARM_CATEGORY_MEDICAL": "medical",
        "HARM_CATEGORY_DANGEROUS": "dangerous",
        # Gemini's categories.
        "HARM_CATEGORY_HARASSMENT": "harassment",
        "HARM_CATEGORY_HATE_SPEECH": "hate",
        "HARM_CATEGORY_SEXUALLY_EXPLICIT": "sexual",
        "HARM_CATEGORY_DANGEROUS_CONTENT": "dangerous",
        "HARM_CATEGORY_CIVIC_INTEGRITY": "elections",
        # Vertex AI's image and jailbreak categories.
        "HARM_CATEGORY_IMAGE_HATE": "hate",
        "HARM_CATEGORY_IMAGE_HARASSMENT": "harassment",
        "HARM_CATEGORY_IMAGE_SEXUALLY_EXPLICIT": "sexual",
        "HARM_CATEGORY_IMAGE_DANGEROUS_CONTENT": "dangerous",
        "HARM_CATEGORY_JAILBREAK": "other",
        "HARM_CATEGORY_UNSPECIFIED": "other",
        # Blocks the ratings do not explain. PROHIBITED_CONTENT is what the
        # non-adjustable core-harm filter (notably child safety) reports, so
        # it is routed where it will be reviewed first.
        "blockReason:SAFETY": "other",
        "blockReason:OTHER": "other",
        "blockReason:BLOCKLIST": "other",
        "blockReason:PROHIBITED_CONTENT": "child_safety",
        "blockReason:IMAGE_SAFETY": "other",
        "finishReason:SAFETY": "other",
        "finishReason:BLOCKLIST": "other",
        "finishReason:PROHIBITED_CONTENT": "child_safety",
        "finishReason:SPII": "privacy",
        "finishReason:IMAGE_SAFETY": "other",
        "finishReason:IMAGE_PROHIBITED_CONTENT": "child_safety",
    },
    "azure": {
        "Hate": "hate",
        "SelfHarm": "self_harm",
        "Sexual": "sexual",
        "Violence": "violence",
        # blocklist:<name> labels are the integration's own lists; they fall
        # to "other" unless an admin maps a list by name.
    },
    "comprehend": {
        "PROFANITY": "harassment",
        "HATE_SPEECH": "hate",
        "INSULT": "harassment",
        "GRAPHIC": "violence",
        "HARASSMENT_OR_ABUSE": "harassment",
        "SEXUAL": "sexual",
        "VIOLENCE_OR_THREAT": "violence",
        "TOXICITY": "harassment",
    },
    "llamaguard": {
        **{code: category for code, (_name, category) in _MLCOMMONS.items()},
        "unsafe": "other",
    },
    "claude": {
        # The categories in the guide's examples (matched case-insensitively).
        "Child Exploitation": "child_safety",
        "Conspiracy Theories": "other",
        "Hate": "hate",
        "Indiscriminate Weapons": "dangerous",
        "Intellectual Property": "other",
        "Non-Violent Crimes": "dangerous",
        "Privacy": "privacy",
        "Self-Harm": "self_harm",
        "Sex Crimes": "violence",
        "Sexual Content": "sexual",
        "Specialized Advice": "medical",
        "Violent Crimes": "violence",
        "Underage Posting": "child_safety",
        # The MLCommons names, for prompts that copy Llama Guard's list.
        **dict(_MLCOMMONS.values()),
        # Synonyms a custom prompt is likely to use.
        "Violence": "violence",
        "Threats": "violence",
        "Terrorism": "violence",
        "Violent Extremism": "violence",
        "Harassment": "harassment",
        "Bullying": "harassment",
        "Toxicity": "harassment",
        "Insults": "harassment",
        "Profanity": "harassment",
        "Hate Speech": "hate",
        "Self Harm": "self_harm",
        "Suicide": "self_harm",
        "Sexual": "sexual",
        "Child Safety": "child_safety",
        "Child Sexual Abuse Material": "child_safety",
        "CSAM": "child_safety",
        "Weapons": "dangerous",
        "Dangerous Activities": "dangerous",
        "Illegal Activities": "dangerous",
        "Cybersecurity": "cyber",
        "Malware": "cyber",
        "Hacking": "cyber",
        "Fraud": "fraud_spam",
        "Scams": "fraud_spam",
        "Spam": "fraud_spam",
        "Election Misinformation": "elections",
        "Election Integrity": "elections",
        "Personal Information": "privacy",
        "Doxxing": "privacy",
        "Medical Advice": "medical",
        "Legal Advice": "medical",
        "Financial Advice": "medical",
        "Misinformation": "other",
    },
    "generic": {
        **{slug: slug for slug in CATEGORY_SLUGS},
        "self-harm": "self_harm",
        "fraud": "fraud_spam",
        "spam": "fraud_spam",
        "toxicity": "harassment",
        "profanity": "harassment",
        "insult": "harassment",
        "threat": "violence",
        "weapons": "dangerous",
        "csam": "child_safety",
        "pii": "privacy",
    },
}

# The lowest score for each level; below "low" is negligible. Only sources
# that give 0..1 scores need them.
CUT_POINTS: Final[dict[str, dict[str, float]]] = {
    # OpenAI publishes no thresholds (its "flagged" uses internal ones); 0.5,
    # more likely than not, is where review starts for most categories.
    "openai": {"low": 0.2, "medium": 0.5, "high": 0.8},
    # Perspective's scores are the share of readers expected to perceive the
    # attribute; its guidance treats 0.7 and above as likely, so that is
    # medium, and 0.9 (nine readers in ten) is high.
    "perspective": {"low": 0.5, "medium": 0.7, "high": 0.9},
    # Comprehend publishes no thresholds; its confidences behave like
    # Perspective's, so the same conservative table applies.
    "comprehend": {"low": 0.5, "medium": 0.7, "high": 0.9},
    # Docket's own format: evenly spaced, for classifiers without a table.
    "generic": {"low": 0.25, "medium": 0.5, "high": 0.75},
}

# Azure's 0..7 severity scale (the four-level output uses 0, 2, 4, 6).
SEVERITY_LEVELS: Final[dict[int, str]] = {
    0: "negligible",
    1: "negligible",
    2: "low",
    3: "low",
    4: "medium",
    5: "medium",
    6: "high",
    7: "high",
}

# The level of a signal whose source says only "unsafe": Llama Guard's codes
# and Claude's violation: true without a risk_level.
DEFAULT_UNSAFE_LEVEL: Final = "high"
