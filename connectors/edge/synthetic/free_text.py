"""Names, places and free-text templates: the personal detail synthetic records carry.

Forenames and surnames are common UK names, grouped loosely so that names
and recorded ethnicity agree; every one must be encodable in Windows-1252,
the SWBH extract's encoding. Streets, venues and hospitals are West Midlands
places. The templates imitate the personal detail real free text carries
(``MOText``, ``LocationDescription``, ``CrewNotes``, ``notes``...), so what
:func:`fill` makes must be treated as if it were real: never shared.
"""

from __future__ import annotations

import random

# Common UK names, grouped loosely so that names and recorded ethnicity agree.
# Every name must be encodable in Windows-1252 (the SWBH extract's encoding).
NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "W": {
        "M": (
            "Jack", "Harry", "Oliver", "George", "Charlie", "Thomas", "James", "Liam",
            "Connor", "Kyle", "Callum", "Daniel", "Ryan", "Jordan", "Lewis", "Jake", "Dean",
            "Lee", "Craig", "Michael", "Paul", "Mark", "Darren", "Sean", "Tyler", "Reece",
            "Alfie", "Ethan", "Mason", "Kieran",
        ),
        "F": (
            "Olivia", "Amelia", "Emily", "Jessica", "Chloe", "Sophie", "Lauren", "Megan",
            "Charlotte", "Emma", "Hannah", "Jade", "Kelly", "Leanne", "Gemma", "Stacey", "Zoë",
            "Renée", "Paige", "Ellie", "Holly", "Danielle", "Sarah", "Rebecca", "Chloé",
            "Michelle", "Courtney", "Amy",
        ),
        "S": (
            "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
            "Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White",
            "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Jackson", "Wood",
            "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "King", "Baker",
            "Harrison", "Morgan", "Allen", "O\u2019Brien", "O\u2019Connor", "Murphy", "Kelly",
            "McDonald",
        ),
    },
    "A": {
        "M": (
            "Mohammed", "Muhammad", "Ali", "Hassan", "Imran", "Usman", "Bilal", "Zain",
            "Ayaan", "Harpreet", "Gurpreet", "Jaspreet", "Arjun", "Rohan", "Amir", "Adnan",
            "Kamran", "Faisal", "Ibrahim", "Yusuf", "Sanjay", "Vikram",
        ),
        "F": (
            "Aisha", "Fatima", "Maryam", "Zara", "Amina", "Sana", "Ayesha", "Nadia", "Priya",
            "Simran", "Manpreet", "Harleen", "Anjali", "Noor", "Hafsa", "Iqra", "Sadia",
        ),
        "S": (
            "Khan", "Ahmed", "Hussain", "Ali", "Akhtar", "Iqbal", "Mahmood", "Rashid", "Patel",
            "Sandhu", "Gill", "Sidhu", "Bains", "Shah", "Mistry", "Sharma", "Chohan", "Islam",
            "Miah", "Uddin", "Rahman",
        ),
        "SM": ("Singh",),
        "SF": ("Begum", "Kaur"),
    },
    "B": {
        "M": (
            "Kwame", "Tyrone", "Marcus", "Jerome", "Andre", "Joshua", "Emmanuel", "Samuel",
            "David", "Malachi", "Tobi", "Chidi", "Abdi", "Mohamed", "Jermaine", "Kofi",
        ),
        "F": (
            "Shanice", "Chantelle", "Aaliyah", "Grace", "Blessing", "Precious", "Esther", "Tia",
            "Amara", "Nia", "Hodan", "Kemi", "Abena",
        ),
        "S": (
            "Campbell", "Brown", "Williams", "Johnson", "Francis", "Clarke", "Henry", "Grant",
            "Okafor", "Adeyemi", "Mensah", "Osei", "Hassan", "Mohamed", "Reid", "Bailey",
            "Robinson", "Farah",
        ),
    },
    "O": {
        "M": (
            "Piotr", "Tomasz", "Andrei", "Dawid", "Mehmet", "Ahmad", "Omar", "Karim", "José",
            "Mateusz",
        ),
        "F": ("Agnieszka", "Ewa", "Ioana", "Maria", "Elif", "Layla", "Inés", "Zuzana"),
        "S": (
            "Nowak", "Kowalski", "Popescu", "Ionescu", "Yilmaz", "Demir", "Haddad", "Karimi",
            "Rahimi", "Müller", "Pérez",
        ),
    },
}  # fmt: skip

_STREETS = (
    "Soho Rd", "Broad St", "Hurst St", "Stratford Rd", "Coventry Rd", "Ladypool Rd",
    "Alum Rock Rd", "Dudley Rd", "High St", "Lichfield Rd", "Washwood Heath Rd", "Bristol Rd",
    "Hagley Rd", "Warwick Rd", "Walsall Rd", "Stafford St", "Far Gosford St", "Hamstead Rd",
    "Bearwood Rd", "Lozells Rd", "St Paul\u2019s Rd", "Park Rd", "Church St", "Station Rd",
)  # fmt: skip
_VENUES = (
    "the chicken shop", "the chippy", "the off-licence", "a takeaway", "the bus stop",
    "the park", "a nightclub", "the pub", "a shisha lounge", "the petrol station",
    "the corner shop", "the Bull\u2019s Head", "the kebab shop", "Wetherspoons", "the bookies",
)  # fmt: skip
_HOSPITALS = (
    "QEHB", "Heartlands", "Good Hope", "City Hospital", "Midland Met", "Walsall Manor",
    "New Cross", "UHCW", "Russells Hall", "Sandwell General",
)  # fmt: skip

MO_TEXT: dict[str, tuple[str, ...]] = {
    "Homicide": (
        "Male found with fatal injuries near {venue} on {street}, major incident declared",
        "Victim {forename} died at scene after altercation on {street}, suspects left in car",
    ),
    "Violence with injury": (
        "Victim punched outside {venue} on {street}",
        "Victim assaulted by unknown male near {venue}, cut above eye, {street}",
        "Victim struck with {weapon} during argument on {street}",
        "Group of youths attacked victim {forename} near {venue} on {street}",
        "Fight spilled out of {venue}, victim glassed, {street}",
    ),
    "Violence without injury": (
        "Victim pushed and threatened outside {venue}, {street}",
        "Suspect spat at victim on bus on {street}",
        "Victim grabbed by the throat during row with neighbour on {street}",
    ),
    "Stalking and harassment": (
        "Repeated unwanted messages from ex-partner to victim {forename}",
        "Suspect followed victim home from {venue} on several nights",
        "Suspect keeps turning up at victim's workplace on {street}",
    ),
    "Sexual offences": (
        "Victim reports being touched inappropriately in {venue} on {street}",
        "Victim {forename} reports offence by a man known to them, ABE interview arranged",
        "Unknown male approached victim walking home along {street}",
    ),
    "Robbery": (
        "Victim's phone taken by two males on bikes on {street}, threatened with {weapon}",
        "Victim {forename} robbed of cash and bank card outside {venue}",
        "Suspects demanded victim's coat and trainers at {venue}, {street}",
    ),
    "Possession of weapons offences": (
        "Male stopped and searched on {street}, found with {weapon}",
        "Report of youths with {weapon} near {venue}, one detained on {street}",
    ),
}
MO_DOMESTIC = (
    "Victim {forename} assaulted by partner at home address, visible injury to face",
    "Ex-partner attended address and assaulted victim, neighbours called police",
    "Argument at home escalated, suspect threw victim {forename} against wall",
    "Victim reports ongoing abuse by partner, latest incident at home address",
)
_WEAPON_WORDS = {
    "BODY": "fists",
    "KNIFE": "a kitchen knife",
    "BLUNT": "a metal bar",
    "GLASS": "a bottle",
    "FIREARM": "a handgun",
    "OTHER": "an unknown object",
    "UNKNOWN": "an unknown object",
}
ED_LOCATION_TEXT = {
    "HOME": ("at home", "partner\u2019s flat", "at a friend\u2019s house", "home address"),
    "STREET": ("outside {venue} on {street}", "{street} near the shops", "on {street}"),
    "PUB": (
        "in the Bull\u2019s Head",
        "outside a nightclub on {street}",
        "smoking area of the pub on {street}",
        "Wetherspoons on {street}",
    ),
    "WORK": ("at work", "car park at work on {street}"),
    "SCHOOL": ("school playground", "outside the school gates on {street}"),
    "TRANSPORT": ("on the bus on {street}", "at the train station", "tram stop on {street}"),
    "OTHER": ("in the park off {street}", "garage forecourt on {street}", "not stated"),
}
METHOD_OTHER = (
    "hit with a scooter",
    "bitten",
    "struck with a brick",
    "hot drink thrown",
    "pushed down stairs",
    "hit with a phone",
)
CREW_NOTES = {
    "Assault": (
        "Pt assaulted outside {venue}, head injury, GCS 15",
        "Pt punched multiple times on {street}, refused conveyance",
        "Pt kicked while on floor, police on scene, conveyed to {hospital}",
        "Facial injuries after fight at {venue}, alcohol involved",
    ),
    "Sexual assault": (
        "Pt reports sexual assault, police escort to {hospital}",
        "Pt distressed, alleged assault near {venue}, SARC informed",
    ),
    "Stab/gunshot/penetrating": (
        "Single stab wound to left thigh, police on scene, conveyed to {hospital}",
        "Penetrating injury to abdomen on {street}, pre-alert {hospital}",
        "Pt stabbed outside {venue}, tourniquet applied",
        "Reported gunshot wound on {street}, armed police on scene",
    ),
    "Other": (
        "Pt found injured on {street}, unclear mechanism",
        "Caller reports fight at {venue}, pt with minor injuries",
    ),
}
REFERRAL_NOTES: dict[str, tuple[str, ...]] = {
    "ED navigator": (
        "Seen in ED by navigator after assault; {forename} agreed to a follow-up call.",
        "Met {forename} at bedside with mum; agreed to meet at the youth centre on {street}.",
        "{forename} says they carry a blade for protection after being robbed on {street}.",
    ),
    "Police custody": (
        "Arrested for affray on {street}; released under investigation.",
        "Custody suite referral after {forename} was found with a knife near {venue}.",
    ),
    "School": (
        "Referred after fight at school; mum supportive, dad not in contact.",
        "Found with a knife at school, no previous contact with services.",
        "Concerns re older males collecting {forename} from school in a car.",
    ),
    "YOS": ("Out-of-court disposal; {forename} to be offered mentoring.",),
    "Social care": (
        "Family known to early help; {forename} missing from home twice this month.",
        "Child in need plan; concerns about exploitation around {street}.",
    ),
    "Self": ("Self-referral after sports session; wants help getting back into college.",),
    "Voluntary sector": ("Detached youth workers met {forename} near {venue} on {street}.",),
}
OUTCOME_NOTES: dict[str, tuple[str, ...]] = {
    "Engaged": ("{forename} attended first sessions and engaged well.",),
    "Declined": ("Mum declined on {forename}'s behalf; leaflet left.",),
    "Uncontactable": ("Could not reach {forename} after three calls and a home visit.",),
    "Completed": ("Good progress; SDQ repeated at closure.", "{forename} completed the programme."),
    "Disengaged": ("{forename} stopped attending; last seen near {venue} on {street}.",),
    "ETE suitable": ("Started at college; mentor to check in monthly.",),
    "Accommodation suitable": ("Moved to stay with family; placement stable.",),
    "FTE": ("{forename} received a youth caution; worker informed YOS.",),
    "Reoffended (violent)": ("Re-arrested for assault on {street}; worker informed YOS.",),
}


def fill(rng: random.Random, template: str, forename: str = "", method: str = "UNKNOWN") -> str:
    """Fill a free-text template; every placeholder draws from a fixed list."""
    return template.format(
        street=rng.choice(_STREETS),
        venue=rng.choice(_VENUES),
        hospital=rng.choice(_HOSPITALS),
        forename=forename or "the victim",
        weapon=_WEAPON_WORDS[method],
    )
