"""Slot values that the Home Assistant intent templates leave to the user's installation.

The templates reference ``{area}``, ``{floor}`` and ``{name}`` (and wildcards such as ``{shopping_list_item}``)
without shipping values, because they come from each home. These small lists stand in for one home, written
in every supported language. Each value has a canonical id shared by all languages: an English utterance with
``area=kitchen`` is paired with a German utterance whose area is the German value of the same id ("Küche").

A language may give several surface forms for one id; the generator picks one at random.
"""

from __future__ import annotations

LANGUAGES = ("en", "de", "es", "fr", "th", "hi")

AREAS: dict[str, dict[str, tuple[str, ...]]] = {
    "kitchen": {
        "en": ("kitchen",),
        "de": ("Küche",),
        "es": ("cocina",),
        "fr": ("cuisine",),
        "th": ("ห้องครัว",),
        "hi": ("रसोई",),
    },
    "living_room": {
        "en": ("living room", "lounge"),
        "de": ("Wohnzimmer",),
        "es": ("salón",),
        "fr": ("salon",),
        "th": ("ห้องนั่งเล่น",),
        "hi": ("लिविंग रूम", "बैठक"),
    },
    "bedroom": {
        "en": ("bedroom",),
        "de": ("Schlafzimmer",),
        "es": ("dormitorio",),
        "fr": ("chambre",),
        "th": ("ห้องนอน",),
        "hi": ("बेडरूम", "शयनकक्ष"),
    },
    "bathroom": {
        "en": ("bathroom",),
        "de": ("Badezimmer", "Bad"),
        "es": ("baño",),
        "fr": ("salle de bain",),
        "th": ("ห้องน้ำ",),
        "hi": ("बाथरूम",),
    },
    "office": {
        "en": ("office", "study"),
        "de": ("Büro", "Arbeitszimmer"),
        "es": ("oficina", "despacho"),
        "fr": ("bureau",),
        "th": ("ห้องทำงาน",),
        "hi": ("ऑफिस", "दफ्तर"),
    },
    "garage": {
        "en": ("garage",),
        "de": ("Garage",),
        "es": ("garaje",),
        "fr": ("garage",),
        "th": ("โรงรถ",),
        "hi": ("गैराज",),
    },
    "garden": {
        "en": ("garden", "backyard"),
        "de": ("Garten",),
        "es": ("jardín",),
        "fr": ("jardin",),
        "th": ("สวน",),
        "hi": ("बगीचा",),
    },
    "hallway": {
        "en": ("hallway", "hall"),
        "de": ("Flur",),
        "es": ("pasillo",),
        "fr": ("couloir",),
        "th": ("ทางเดิน",),
        "hi": ("गलियारा",),
    },
    "dining_room": {
        "en": ("dining room",),
        "de": ("Esszimmer",),
        "es": ("comedor",),
        "fr": ("salle à manger",),
        "th": ("ห้องทานข้าว",),
        "hi": ("भोजन कक्ष",),
    },
    "kids_room": {
        "en": ("kids room", "nursery"),
        "de": ("Kinderzimmer",),
        "es": ("habitación de los niños",),
        "fr": ("chambre des enfants",),
        "th": ("ห้องเด็ก",),
        "hi": ("बच्चों का कमरा",),
    },
}

FLOORS: dict[str, dict[str, tuple[str, ...]]] = {
    "downstairs": {
        "en": ("downstairs", "ground floor"),
        "de": ("Erdgeschoss",),
        "es": ("planta baja",),
        "fr": ("rez-de-chaussée",),
        "th": ("ชั้นล่าง",),
        "hi": ("निचली मंजिल",),
    },
    "upstairs": {
        "en": ("upstairs", "first floor"),
        "de": ("Obergeschoss",),
        "es": ("planta de arriba",),
        "fr": ("étage",),
        "th": ("ชั้นบน",),
        "hi": ("ऊपरी मंजिल",),
    },
    "basement": {
        "en": ("basement",),
        "de": ("Keller",),
        "es": ("sótano",),
        "fr": ("sous-sol",),
        "th": ("ชั้นใต้ดิน",),
        "hi": ("तहखाना",),
    },
    "attic": {
        "en": ("attic",),
        "de": ("Dachgeschoss",),
        "es": ("ático",),
        "fr": ("grenier",),
        "th": ("ห้องใต้หลังคา",),
        "hi": ("अटारी",),
    },
}

# Device names carry the Home Assistant domain of their entity: templates restrict {name} to some domains
# (``requires_context: {domain: [...]}``), e.g. "set the brightness of {name}" only takes lights.
NAMES: dict[str, dict[str, object]] = {
    "ceiling_light": {
        "domain": "light",
        "en": ("ceiling light",),
        "de": ("Deckenlampe",),
        "es": ("lámpara del techo",),
        "fr": ("plafonnier",),
        "th": ("ไฟเพดาน",),
        "hi": ("छत की लाइट",),
    },
    "desk_lamp": {
        "domain": "light",
        "en": ("desk lamp",),
        "de": ("Schreibtischlampe",),
        "es": ("lámpara del escritorio",),
        "fr": ("lampe de bureau",),
        "th": ("โคมไฟตั้งโต๊ะ",),
        "hi": ("डेस्क लैंप",),
    },
    "tv": {
        "domain": "media_player",
        "en": ("TV", "television"),
        "de": ("Fernseher",),
        "es": ("televisión", "tele"),
        "fr": ("télé", "télévision"),
        "th": ("ทีวี",),
        "hi": ("टीवी",),
    },
    "soundbar": {
        "domain": "media_player",
        "en": ("soundbar",),
        "de": ("Soundbar",),
        "es": ("barra de sonido",),
        "fr": ("barre de son",),
        "th": ("ซาวด์บาร์",),
        "hi": ("साउंडबार",),
    },
    "ceiling_fan": {
        "domain": "fan",
        "en": ("ceiling fan",),
        "de": ("Deckenventilator",),
        "es": ("ventilador de techo",),
        "fr": ("ventilateur de plafond",),
        "th": ("พัดลมเพดาน",),
        "hi": ("छत का पंखा",),
    },
    "thermostat": {
        "domain": "climate",
        "en": ("thermostat",),
        "de": ("Thermostat",),
        "es": ("termostato",),
        "fr": ("thermostat",),
        "th": ("เทอร์โมสตัท",),
        "hi": ("थर्मोस्टेट",),
    },
    "air_conditioner": {
        "domain": "climate",
        "en": ("air conditioner",),
        "de": ("Klimaanlage",),
        "es": ("aire acondicionado",),
        "fr": ("climatiseur",),
        "th": ("แอร์",),
        "hi": ("एसी",),
    },
    "roller_shutter": {
        "domain": "cover",
        "en": ("roller shutter",),
        "de": ("Rollladen",),
        "es": ("persiana",),
        "fr": ("volet roulant",),
        "th": ("ม่านม้วน",),
        "hi": ("रोलर शटर",),
    },
    "front_door_lock": {
        "domain": "lock",
        "en": ("front door lock",),
        "de": ("Haustürschloss",),
        "es": ("cerradura de la puerta principal",),
        "fr": ("serrure de la porte d'entrée",),
        "th": ("กลอนประตูหน้า",),
        "hi": ("मुख्य दरवाजे का ताला",),
    },
    "coffee_maker": {
        "domain": "switch",
        "en": ("coffee maker",),
        "de": ("Kaffeemaschine",),
        "es": ("cafetera",),
        "fr": ("cafetière",),
        "th": ("เครื่องชงกาแฟ",),
        "hi": ("कॉफी मशीन",),
    },
    "robot_vacuum": {
        "domain": "vacuum",
        "en": ("robot vacuum",),
        "de": ("Saugroboter",),
        "es": ("robot aspirador",),
        "fr": ("robot aspirateur",),
        "th": ("หุ่นยนต์ดูดฝุ่น",),
        "hi": ("रोबोट वैक्यूम",),
    },
    "lawn_mower": {
        "domain": "lawn_mower",
        "en": ("lawn mower",),
        "de": ("Rasenmäher",),
        "es": ("cortacésped",),
        "fr": ("tondeuse",),
        "th": ("เครื่องตัดหญ้า",),
        "hi": ("लॉन मोवर",),
    },
    "water_valve": {
        "domain": "valve",
        "en": ("water valve",),
        "de": ("Wasserventil",),
        "es": ("válvula de agua",),
        "fr": ("vanne d'eau",),
        "th": ("วาล์วน้ำ",),
        "hi": ("पानी का वाल्व",),
    },
    "motion_sensor": {
        "domain": "binary_sensor",
        "en": ("motion sensor",),
        "de": ("Bewegungsmelder",),
        "es": ("sensor de movimiento",),
        "fr": ("détecteur de mouvement",),
        "th": ("เซ็นเซอร์ตรวจจับความเคลื่อนไหว",),
        "hi": ("मोशन सेंसर",),
    },
    "back_door": {
        "domain": "binary_sensor",
        "en": ("back door",),
        "de": ("Hintertür",),
        "es": ("puerta trasera",),
        "fr": ("porte arrière",),
        "th": ("ประตูหลัง",),
        "hi": ("पिछला दरवाजा",),
    },
    "outdoor_temperature": {
        "domain": "sensor",
        "en": ("outdoor temperature",),
        "de": ("Außentemperatur",),
        "es": ("temperatura exterior",),
        "fr": ("température extérieure",),
        "th": ("อุณหภูมิภายนอก",),
        "hi": ("बाहर का तापमान",),
    },
    "movie_night": {
        "domain": "scene",
        "en": ("movie night",),
        "de": ("Filmabend",),
        "es": ("noche de cine",),
        "fr": ("soirée cinéma",),
        "th": ("โหมดดูหนัง",),
        "hi": ("मूवी नाइट",),
    },
    "anna": {
        "domain": "person",
        "en": ("Anna",),
        "de": ("Anna",),
        "es": ("Ana",),
        "fr": ("Anne",),
        "th": ("แอนนา",),
        "hi": ("अन्ना",),
    },
    # A to-do list that is not the shopping list: the templates of the HassShoppingList* intents say "shopping list"
    # as plain text, so a to-do list of that name would make the same sentence a {name} slot of HassList* in one
    # example and untagged text of HassShoppingList* in the next (and the two intents indistinguishable).
    "todo_list": {
        "domain": "todo",
        "en": ("to-do list",),
        "de": ("Aufgabenliste",),
        "es": ("lista de tareas",),
        "fr": ("liste de tâches",),
        "th": ("รายการสิ่งที่ต้องทำ",),
        "hi": ("कार्य सूची",),
    },
}

# {name} in a template that does not restrict the domain addresses a device one switches or asks about,
# not a person, a to-do list or a scene ("turn on the shopping list" is not an utterance of this corpus).
DEFAULT_NAME_DOMAINS = frozenset(
    {
        "light",
        "media_player",
        "fan",
        "climate",
        "cover",
        "lock",
        "switch",
        "vacuum",
        "lawn_mower",
        "valve",
        "binary_sensor",
        "sensor",
    }
)

# Values for the wildcard lists the generator fills (all other wildcards, e.g. {message}, are skipped).
ITEMS: dict[str, dict[str, tuple[str, ...]]] = {
    "milk": {"en": ("milk",), "de": ("Milch",), "es": ("leche",), "fr": ("lait",), "th": ("นม",), "hi": ("दूध",)},
    "bread": {"en": ("bread",), "de": ("Brot",), "es": ("pan",), "fr": ("pain",), "th": ("ขนมปัง",), "hi": ("ब्रेड",)},
    "eggs": {"en": ("eggs",), "de": ("Eier",), "es": ("huevos",), "fr": ("œufs",), "th": ("ไข่",), "hi": ("अंडे",)},
    "apples": {
        "en": ("apples",),
        "de": ("Äpfel",),
        "es": ("manzanas",),
        "fr": ("pommes",),
        "th": ("แอปเปิ้ล",),
        "hi": ("सेब",),
    },
    "coffee": {
        "en": ("coffee",),
        "de": ("Kaffee",),
        "es": ("café",),
        "fr": ("café",),
        "th": ("กาแฟ",),
        "hi": ("कॉफी",),
    },
    "rice": {"en": ("rice",), "de": ("Reis",), "es": ("arroz",), "fr": ("riz",), "th": ("ข้าวสาร",), "hi": ("चावल",)},
    "batteries": {
        "en": ("batteries",),
        "de": ("Batterien",),
        "es": ("pilas",),
        "fr": ("piles",),
        "th": ("ถ่าน",),
        "hi": ("बैटरी",),
    },
}

# Music is searched by its own (untranslated) title or artist name, in every language.
_MEDIA_TITLES = ("Abbey Road", "Taylor Swift", "Bohemian Rhapsody", "Daft Punk", "Yesterday", "Coldplay")
SEARCH_QUERIES: dict[str, dict[str, tuple[str, ...]]] = {
    title.lower().replace(" ", "_"): {lang: (title,) for lang in LANGUAGES} for title in _MEDIA_TITLES
}

# Wildcard list name -> values that fill it.
WILDCARD_VALUES: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "shopping_list_item": ITEMS,
    "todo_list_item": ITEMS,
    "search_query": SEARCH_QUERIES,
}

# Plausible windows for numbers drawn from the templates' ranges (list name -> (low, high, step)); a range
# missing here is drawn over its whole span. Values are written as digits in every language.
NUMBER_WINDOWS: dict[str, tuple[int, int, int]] = {
    "temperature": (16, 28, 1),
    "color_temperature": (2000, 6500, 100),
    "brightness": (10, 100, 5),
    "position": (10, 100, 10),
    "fan_speed": (10, 100, 10),
    "volume": (10, 100, 5),
    "volume_level": (10, 100, 5),
    "volume_step_up": (5, 30, 5),
    "volume_step_down": (5, 30, 5),
    "timer_seconds": (5, 55, 5),
    "timer_minutes": (1, 45, 1),
    "timer_hours": (1, 5, 1),
}
