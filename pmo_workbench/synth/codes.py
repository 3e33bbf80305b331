"""Code catalogues of the synthetic project: SKS diagnoses, ATC drugs and NPU lab analyses.

Written for the synthetic generator only (short descriptive texts in Danish and English, plausible DDDs,
package sizes and reference ranges); they are not official code lists and carry no licence restrictions.
Each catalogue is a tuple of frozen dataclasses; :func:`build_catalogue_frame` turns one into a DataFrame.

Examples
--------
>>> SKS_BY_CODE["DI219"].text_en
'Acute myocardial infarction, unspecified'
>>> NPU_BY_CODE["NPU01567"].unit
'mmol/L'
>>> ATC_BY_CODE["C10AA05"].name
'atorvastatin'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class SksCode:
    """One SKS diagnosis code (``D`` + ICD-10 without the dot) and how the generator uses it.

    ``group`` is the background-disease group the generator draws from: ``acute`` (one-off contacts such as
    fractures or infections), a chronic condition name (``hypertension``, ``diabetes``, ...), ``mi`` (the
    heritable disease), ``cardiac`` (follow-up of ischaemic heart disease) or ``symptom``. ``weight`` is the
    relative frequency within its group.
    """

    code: str
    text_da: str
    text_en: str
    group: str
    weight: float = 1.0


@dataclass(frozen=True)
class AtcCode:
    """One ATC drug as dispensed: name, the strength of the usual package, its size and DDDs per package."""

    code: str
    name: str
    strength: float
    strength_unit: str
    packsize: int
    ddd_per_package: float
    vnr: str


@dataclass(frozen=True)
class NpuCode:
    """One NPU laboratory analysis with unit, reference range (per sex where they differ) and decimals."""

    code: str
    name: str
    unit: str
    ref_low_f: float
    ref_high_f: float
    ref_low_m: float
    ref_high_m: float
    decimals: int


SKS_CODES: tuple[SksCode, ...] = (
    # heritable disease: acute myocardial infarction and subsequent infarction (within 4 weeks)
    SksCode(
        "DI210",
        "Akut transmuralt myokardieinfarkt i forvæggen",
        "Acute transmural MI of anterior wall",
        "mi",
        2,
    ),
    SksCode(
        "DI211",
        "Akut transmuralt myokardieinfarkt i bagvæggen",
        "Acute transmural MI of inferior wall",
        "mi",
        2,
    ),
    SksCode(
        "DI214",
        "Akut subendokardielt myokardieinfarkt",
        "Acute subendocardial myocardial infarction",
        "mi",
        4,
    ),
    SksCode("DI219", "Akut myokardieinfarkt UNS", "Acute myocardial infarction, unspecified", "mi", 6),
    SksCode("DI229", "Reinfarkt UNS", "Subsequent myocardial infarction, unspecified", "mi_subsequent", 1),
    # follow-up of ischaemic heart disease
    SksCode("DI251", "Aterosklerotisk hjertesygdom", "Atherosclerotic heart disease", "cardiac", 3),
    SksCode("DI252", "Gammelt myokardieinfarkt", "Old myocardial infarction", "cardiac", 2),
    SksCode(
        "DI259",
        "Kronisk iskæmisk hjertesygdom UNS",
        "Chronic ischaemic heart disease, unspecified",
        "cardiac",
        2,
    ),
    SksCode("DI209", "Angina pectoris UNS", "Angina pectoris, unspecified", "cardiac", 2),
    # chronic background conditions
    SksCode("DI109", "Essentiel hypertension", "Essential (primary) hypertension", "hypertension", 1),
    SksCode(
        "DE119", "Type 2-diabetes uden komplikationer", "Type 2 diabetes without complications", "diabetes", 5
    ),
    SksCode(
        "DE112",
        "Type 2-diabetes med nyrekomplikationer",
        "Type 2 diabetes with kidney complications",
        "diabetes",
        1,
    ),
    SksCode(
        "DE113",
        "Type 2-diabetes med øjenkomplikationer",
        "Type 2 diabetes with eye complications",
        "diabetes",
        1,
    ),
    SksCode("DE785", "Hyperlipidæmi UNS", "Hyperlipidaemia, unspecified", "hyperlipidaemia", 1),
    SksCode(
        "DJ449",
        "Kronisk obstruktiv lungesygdom UNS",
        "Chronic obstructive pulmonary disease, unspecified",
        "copd",
        3,
    ),
    SksCode("DJ441", "KOL med akut exacerbation", "COPD with acute exacerbation", "copd", 1),
    SksCode("DJ459", "Astma UNS", "Asthma, unspecified", "asthma", 1),
    SksCode(
        "DI489",
        "Atrieflimren og atrieflagren UNS",
        "Atrial fibrillation and flutter, unspecified",
        "atrial_fibrillation",
        1,
    ),
    SksCode("DI500", "Kongestivt hjertesvigt", "Congestive heart failure", "heart_failure", 1),
    SksCode("DN184", "Kronisk nyresygdom stadium 4", "Chronic kidney disease, stage 4", "ckd", 1),
    SksCode("DE039", "Hypotyreose UNS", "Hypothyroidism, unspecified", "hypothyroidism", 1),
    SksCode("DF329", "Depressiv enkeltepisode UNS", "Depressive episode, unspecified", "depression", 1),
    SksCode("DM179", "Knæartrose UNS", "Gonarthrosis, unspecified", "osteoarthritis", 1),
    SksCode("DM161", "Primær hofteartrose", "Other primary coxarthrosis", "osteoarthritis", 1),
    SksCode(
        "DM059",
        "Seropositiv reumatoid artrit UNS",
        "Seropositive rheumatoid arthritis, unspecified",
        "rheumatoid_arthritis",
        1,
    ),
    SksCode("DG409", "Epilepsi UNS", "Epilepsy, unspecified", "epilepsy", 1),
    SksCode("DG309", "Alzheimers sygdom UNS", "Alzheimer disease, unspecified", "dementia", 1),
    SksCode("DI639", "Hjerneinfarkt UNS", "Cerebral infarction, unspecified", "stroke", 1),
    SksCode("DK509", "Crohns sygdom UNS", "Crohn disease, unspecified", "ibd", 1),
    # cancers
    SksCode("DC509", "Brystkræft UNS", "Malignant neoplasm of breast, unspecified", "cancer", 3),
    SksCode("DC619", "Prostatakræft", "Malignant neoplasm of prostate", "cancer", 3),
    SksCode("DC349", "Lungekræft UNS", "Malignant neoplasm of bronchus or lung, unspecified", "cancer", 3),
    SksCode("DC189", "Tyktarmskræft UNS", "Malignant neoplasm of colon, unspecified", "cancer", 2),
    SksCode("DC209", "Endetarmskræft", "Malignant neoplasm of rectum", "cancer", 1),
    SksCode("DC439", "Modermærkekræft UNS", "Malignant melanoma of skin, unspecified", "cancer", 1),
    SksCode("DC679", "Blærekræft UNS", "Malignant neoplasm of bladder, unspecified", "cancer", 1),
    SksCode("DC250", "Kræft i bugspytkirtlens hoved", "Malignant neoplasm of head of pancreas", "cancer", 1),
    SksCode("DC911", "Kronisk lymfatisk leukæmi", "Chronic lymphocytic leukaemia", "cancer", 1),
    # acute, one-off contacts
    SksCode("DS720", "Brud på lårbenshals", "Fracture of neck of femur", "acute", 2),
    SksCode("DS525", "Brud på distale ende af radius", "Fracture of lower end of radius", "acute", 3),
    SksCode("DS822", "Brud på skinneben", "Fracture of shaft of tibia", "acute", 1),
    SksCode("DS420", "Brud på kraveben", "Fracture of clavicle", "acute", 1),
    SksCode(
        "DS610",
        "Sår på finger uden beskadigelse af negl",
        "Open wound of finger without damage to nail",
        "acute",
        3,
    ),
    SksCode("DS060", "Hjernerystelse", "Concussion", "acute", 2),
    SksCode("DS934", "Forstuvning af ankel", "Sprain of ankle", "acute", 3),
    SksCode("DJ189", "Pneumoni UNS", "Pneumonia, unspecified", "acute", 4),
    SksCode(
        "DJ069",
        "Akut øvre luftvejsinfektion UNS",
        "Acute upper respiratory infection, unspecified",
        "acute",
        2,
    ),
    SksCode("DN390", "Urinvejsinfektion", "Urinary tract infection, site not specified", "acute", 4),
    SksCode("DA099", "Gastroenteritis UNS", "Gastroenteritis and colitis of unspecified origin", "acute", 2),
    SksCode("DK359", "Akut appendicitis UNS", "Acute appendicitis, unspecified", "acute", 1),
    SksCode(
        "DK802", "Galdesten uden kolecystit", "Calculus of gallbladder without cholecystitis", "acute", 2
    ),
    SksCode("DK409", "Lyskebrok UNS", "Unilateral inguinal hernia", "acute", 1),
    SksCode("DL039", "Cellulitis UNS", "Cellulitis, unspecified", "acute", 1),
    SksCode("DA419", "Sepsis UNS", "Sepsis, unspecified", "acute", 1),
    SksCode("DH251", "Alderdomskatarakt nuklear", "Age-related nuclear cataract", "acute", 2),
    SksCode("DM545", "Lændesmerter", "Low back pain", "acute", 3),
    SksCode("DK590", "Obstipation", "Constipation", "acute", 1),
    # symptoms and observations
    SksCode("DR074", "Brystsmerter UNS", "Chest pain, unspecified", "symptom", 4),
    SksCode("DR060", "Dyspnø", "Dyspnoea", "symptom", 2),
    SksCode(
        "DR104", "Andre og uspecificerede mavesmerter", "Other and unspecified abdominal pain", "symptom", 3
    ),
    SksCode("DR559", "Synkope og kollaps", "Syncope and collapse", "symptom", 2),
    SksCode(
        "DZ039",
        "Observation pga mistanke om sygdom UNS",
        "Observation for suspected disease, ruled out",
        "symptom",
        3,
    ),
)
"""About 60 SKS diagnosis codes the generator uses, with Danish and English text."""

ATC_CODES: tuple[AtcCode, ...] = (
    AtcCode("C10AA01", "simvastatin", 40, "mg", 100, 200.0, "467021"),
    AtcCode("C10AA05", "atorvastatin", 40, "mg", 100, 200.0, "095738"),
    AtcCode("C10AA07", "rosuvastatin", 10, "mg", 98, 98.0, "189004"),
    AtcCode("C09AA05", "ramipril", 5, "mg", 100, 200.0, "116743"),
    AtcCode("C09CA01", "losartan", 50, "mg", 98, 98.0, "020411"),
    AtcCode("C08CA01", "amlodipin", 5, "mg", 100, 100.0, "467712"),
    AtcCode("C03AB01", "bendroflumethiazid og kalium", 2.5, "mg", 100, 100.0, "014092"),
    AtcCode("C07AB02", "metoprolol", 100, "mg", 100, 66.7, "437863"),
    AtcCode("A10BA02", "metformin", 500, "mg", 100, 25.0, "571503"),
    AtcCode("A10BJ02", "liraglutid", 6, "mg/ml", 3, 30.0, "088569"),
    AtcCode("B01AC06", "acetylsalicylsyre", 75, "mg", 100, 100.0, "026436"),
    AtcCode("B01AC04", "clopidogrel", 75, "mg", 84, 84.0, "416534"),
    AtcCode("B01AF01", "rivaroxaban", 20, "mg", 98, 98.0, "184536"),
    AtcCode("R03AC02", "salbutamol", 0.1, "mg/dosis", 200, 25.0, "470849"),
    AtcCode("R03BA02", "budesonid", 0.2, "mg/dosis", 120, 30.0, "048157"),
    AtcCode("H03AA01", "levothyroxinnatrium", 100, "mikrog", 100, 66.7, "145367"),
    AtcCode("N06AB10", "escitalopram", 10, "mg", 98, 98.0, "032640"),
    AtcCode("A02BC01", "omeprazol", 20, "mg", 98, 98.0, "117036"),
    AtcCode("N02BE01", "paracetamol", 500, "mg", 100, 16.7, "528133"),
    AtcCode("J01CA04", "amoxicillin", 500, "mg", 20, 6.7, "002817"),
    AtcCode("J01CE02", "phenoxymethylpenicillin", 800, "mg", 40, 16.0, "170639"),
)
"""Drugs the generator dispenses; ``ddd_per_package`` is what ``volume`` (voltypetxt ``DDD``) says in LMDB."""

NPU_CODES: tuple[NpuCode, ...] = (
    NpuCode("NPU01567", "P—Kolesterol LDL; stofk.", "mmol/L", 0.0, 3.0, 0.0, 3.0, 1),
    NpuCode("NPU01566", "P—Kolesterol; stofk.", "mmol/L", 0.0, 5.0, 0.0, 5.0, 1),
    NpuCode("NPU01568", "P—Kolesterol HDL; stofk.", "mmol/L", 1.2, 3.0, 1.0, 3.0, 2),
    NpuCode("NPU04094", "P—Triglycerid; stofk.", "mmol/L", 0.45, 2.0, 0.45, 2.0, 2),
    NpuCode("NPU27300", "B—Hæmoglobin A1c (IFCC); stofk.", "mmol/mol", 0.0, 48.0, 0.0, 48.0, 0),
    NpuCode("NPU02319", "B—Hæmoglobin; stofk.", "mmol/L", 7.3, 9.5, 8.3, 10.5, 1),
    NpuCode("NPU18016", "P—Kreatinin; stofk.", "µmol/L", 45.0, 90.0, 60.0, 105.0, 0),
    NpuCode("NPU19748", "P—C-reaktivt protein; massek.", "mg/L", 0.0, 8.0, 0.0, 8.0, 1),
)
"""Lab analyses; LDL is the heritable lab trait."""

ICD8_CODES: tuple[SksCode, ...] = (
    SksCode("41099", "Infarctus myocardii acutus", "Acute myocardial infarction", "mi", 1.0),
    SksCode("25000", "Diabetes mellitus", "Diabetes mellitus (non-insulin-dependent)", "diabetes", 0.8),
    SksCode("24900", "Diabetes mellitus juvenilis", "Diabetes mellitus (insulin-dependent)", "diabetes", 0.2),
    SksCode("40199", "Hypertensio arterialis essentialis", "Essential hypertension", "history", 3.0),
    SksCode("43499", "Thrombosis cerebri", "Cerebral thrombosis", "history", 0.5),
    SksCode("49300", "Asthma bronchiale", "Asthma", "history", 1.0),
    SksCode("54099", "Appendicitis acuta", "Acute appendicitis", "history", 1.0),
    SksCode("82009", "Fractura colli femoris", "Fracture of the neck of the femur", "history", 1.0),
    SksCode("48699", "Pneumonia", "Pneumonia, unspecified", "history", 1.5),
    SksCode("78509", "Dolores thoracis", "Chest pain", "history", 1.0),
)
"""ICD-8 diagnoses (Danish edition: 3-digit category and 2-digit subdivision) of the synthetic LPR history
before 1994: ``mi`` and ``diabetes`` for the heritable and chronic conditions, ``history`` for background
contacts."""

SKS_BY_CODE: dict[str, SksCode] = {c.code: c for c in SKS_CODES}
ATC_BY_CODE: dict[str, AtcCode] = {c.code: c for c in ATC_CODES}
NPU_BY_CODE: dict[str, NpuCode] = {c.code: c for c in NPU_CODES}


def select_sks_codes(group: str) -> tuple[list[str], list[float]]:
    """Return the codes of one catalogue group and their normalised weights.

    Examples
    --------
    >>> codes, weights = select_sks_codes("mi")
    >>> codes[0], round(sum(weights), 6)
    ('DI210', 1.0)
    """
    rows = [c for c in SKS_CODES if c.group == group]
    if not rows:
        raise KeyError(f"no SKS codes in group {group!r}")
    total = sum(c.weight for c in rows)
    return [c.code for c in rows], [c.weight / total for c in rows]


def build_catalogue_frame(kind: str) -> pd.DataFrame:
    """Return one catalogue (``"sks"``, ``"atc"`` or ``"npu"``) as a DataFrame, one row per code.

    Examples
    --------
    >>> build_catalogue_frame("npu").set_index("code").loc["NPU19748", "unit"]
    'mg/L'
    """
    catalogues = {"sks": SKS_CODES, "atc": ATC_CODES, "npu": NPU_CODES}
    if kind not in catalogues:
        raise KeyError(f"unknown catalogue {kind!r}; choose sks, atc or npu")
    return pd.DataFrame([asdict(c) for c in catalogues[kind]])
