#!/usr/bin/env python3
"""Validate the gold corpus files (corpus/*.jsonl).

Usage:
    python3 corpus/check.py            # every *.jsonl beside this script
    python3 corpus/check.py FILE...    # the named files
    python3 corpus/check.py --stats    # also print counts per kind and per concept status

Checks every line: valid JSON object, known top-level keys, unique ids across all files, a
known `kind`, non-empty `text`, patient fields with the contract's names and plausible values,
gold keyed by the 11 contract concepts with allowed status/severity/acuity/direction values,
attributes only on the concepts they belong to, levels in C1..S5 listed cranial to caudal
without repeats, and the Genant grade agreeing with a stated height loss (20-25 % -> 1,
>25-40 % -> 2, >40 % -> 3).

An `actions` object, when present, must hold exactly the two lists `required` and
`forbidden`, each of known action ids from the contract's table without repeats, and no id
may be both required and forbidden.

Warnings (not errors): a gold level that the text never names, alone or inside a range
("T11-L2", "L4-5", "L5/S1", "T5 to T11", "C5 through C7", "between L1 and L4") or by an anatomic name (dens,
odontoid, axis -> C2; atlas, atlanto- -> C1).

Exit status: 0 when no errors, 1 otherwise. Standard library only. Messages name the file,
line and id, never the report text.
"""

import json
import os
import re
import sys

CONCEPTS = [
    "vertebral_fracture",
    "retropulsion",
    "demineralization",
    "spondylolisthesis",
    "spondylolysis",
    "degenerative_changes",
    "scoliosis",
    "kyphosis",
    "malalignment",
    "hardware",
    "osseous_lesion",
]
VERTEBRAE = (
    [f"C{i}" for i in range(1, 8)]
    + [f"T{i}" for i in range(1, 13)]
    + [f"L{i}" for i in range(1, 6)]
    + [f"S{i}" for i in range(1, 6)]
)
KINDS = {
    "cervical",
    "thoracic",
    "lumbar",
    "thoracolumbar",
    "scoliosis",
    "chest",
    "trauma",
    "postop",
    "oncology",
    "other",
}
STATUSES = {"present", "absent", "uncertain"}
SEVERITIES = {"mild", "moderate", "severe"}
ACUITIES = {"acute", "subacute", "chronic", "indeterminate"}
LISTHESIS_DIRECTIONS = {"anterior", "posterior", "lateral"}
CURVE_DIRECTIONS = {"dextro", "levo"}
ACTIONS = {
    "mri_without_contrast",
    "mri_with_and_without_contrast",
    "dxa",
    "fracture_risk_assessment",
    "calcium_vitamin_d",
    "pharmacologic_osteoporosis_treatment",
    "secondary_cause_workup",
    "conservative_management",
    "avoid_routine_imaging",
    "spine_surgery_referral",
    "malignancy_workup",
}
ACTION_ORDER = [
    "mri_without_contrast",
    "mri_with_and_without_contrast",
    "dxa",
    "fracture_risk_assessment",
    "calcium_vitamin_d",
    "pharmacologic_osteoporosis_treatment",
    "secondary_cause_workup",
    "conservative_management",
    "avoid_routine_imaging",
    "spine_surgery_referral",
    "malignancy_workup",
]
TOP_KEYS = {"id", "text", "kind", "patient", "gold", "actions"}
PATIENT_NUMBERS = {
    "age": (0, 120),
    "t_score": (-7, 5),
    "frax_major": (0, 100),
    "frax_hip": (0, 100),
}
PATIENT_BOOLEANS = {
    "neuro_deficit",
    "cancer_history",
    "glucocorticoids",
    "fragility_fracture_history",
    "high_energy_trauma",
}
# Attribute -> the concepts it may appear on (None: any concept).
ATTRIBUTES = {
    "levels": None,
    "severity": None,
    "acuity": {"vertebral_fracture"},
    "genant_grade": {"vertebral_fracture"},
    "height_loss_pct": {"vertebral_fracture"},
    "meyerding_grade": {"spondylolisthesis"},
    "slip_mm": {"spondylolisthesis"},
    "direction": {"spondylolisthesis", "scoliosis"},
    "cobb_degrees": {"scoliosis", "kyphosis"},
}
ID_RE = re.compile(r"^[a-z][a-z0-9]*-\d{3,}$")

# A vertebra, optionally followed by a range to another ("T11-L2", "L4-5", "L5/S1",
# "T5 to T11", "C5 through C7", "T11–L2").
LEVEL_RE = re.compile(
    r"(?<![A-Za-z0-9])([CTLS])\s?(\d{1,2})(?:\s*(?:-|–|/|\bto\b|\bthrough\b|\bthru\b)\s*([CTLS]?)\s?(\d{1,2}))?(?![0-9])",
    re.IGNORECASE,
)

# "between L1 and L4" (a Cobb angle's end vertebrae) is a range too.
BETWEEN_RE = re.compile(
    r"\bbetween\s+([CTLS])(\d{1,2})\s+and\s+([CTLS]?)(\d{1,2})\b", re.IGNORECASE
)


def levels_named(text):
    """Every vertebra the text names, ranges expanded."""
    named = set()
    for m in LEVEL_RE.finditer(text):
        a = f"{m.group(1).upper()}{int(m.group(2))}"
        if a not in VERTEBRAE:
            continue
        named.add(a)
        if m.group(4):
            b = f"{(m.group(3) or m.group(1)).upper()}{int(m.group(4))}"
            if b in VERTEBRAE:
                i, j = sorted((VERTEBRAE.index(a), VERTEBRAE.index(b)))
                named.update(VERTEBRAE[i : j + 1])
    for m in BETWEEN_RE.finditer(text):
        a = f"{m.group(1).upper()}{int(m.group(2))}"
        b = f"{(m.group(3) or m.group(1)).upper()}{int(m.group(4))}"
        if a in VERTEBRAE and b in VERTEBRAE:
            i, j = sorted((VERTEBRAE.index(a), VERTEBRAE.index(b)))
            named.update(VERTEBRAE[i : j + 1])
    low = text.lower()
    # Anatomic names that denote one vertebra.
    if re.search(r"\b(dens|odontoid|axis)\b", low):
        named.add("C2")
    if re.search(r"\b(atlas|atlanto)", low):
        named.add("C1")
    return named


def genant_for(pct):
    """Genant grade from percent height loss; None below 20 %."""
    if pct < 20:
        return None
    if pct <= 25:
        return 1
    if pct <= 40:
        return 2
    return 3


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Checker:
    def __init__(self):
        self.errors = 0
        self.warnings = 0
        self.ids = {}
        self.records = 0

    def error(self, where, msg):
        self.errors += 1
        print(f"{where}: error: {msg}")

    def warn(self, where, msg):
        self.warnings += 1
        print(f"{where}: warning: {msg}")

    def check_file(self, path):
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                where = f"{path}:{lineno}"
                if not line.strip():
                    self.error(where, "blank line")
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    self.error(where, f"invalid JSON ({e.msg} at column {e.colno})")
                    continue
                self.records += 1
                if not isinstance(obj, dict):
                    self.error(where, "not a JSON object")
                    continue
                self.check_record(where, obj)

    def check_record(self, where, obj):
        rid = obj.get("id")
        if not isinstance(rid, str) or not ID_RE.match(rid):
            self.error(where, f"id must look like 'spine-001', got {rid!r}")
        else:
            where = f"{where} ({rid})"
            if rid in self.ids:
                self.error(where, f"duplicate id, first at {self.ids[rid]}")
            else:
                self.ids[rid] = where
        for k in obj:
            if k not in TOP_KEYS:
                self.error(where, f"unknown key {k!r} (allowed: {', '.join(sorted(TOP_KEYS))})")
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            self.error(where, "text must be a non-empty string")
            text = ""
        if obj.get("kind") not in KINDS:
            self.error(where, f"kind {obj.get('kind')!r} not one of {', '.join(sorted(KINDS))}")
        if "patient" in obj:
            self.check_patient(where, obj["patient"])
        gold = obj.get("gold")
        if not isinstance(gold, dict):
            self.error(where, "gold must be an object (empty when nothing is mentioned)")
        else:
            named = levels_named(text)
            for concept, ann in gold.items():
                self.check_concept(where, concept, ann, named)
        if "actions" in obj:
            self.check_actions(where, obj["actions"])

    def check_patient(self, where, p):
        if not isinstance(p, dict):
            self.error(where, "patient must be an object")
            return
        for k, v in p.items():
            if k in PATIENT_NUMBERS:
                lo, hi = PATIENT_NUMBERS[k]
                if not is_number(v) or not lo <= v <= hi:
                    self.error(where, f"patient.{k} must be a number in {lo}..{hi}, got {v!r}")
            elif k in PATIENT_BOOLEANS:
                if not isinstance(v, bool):
                    self.error(where, f"patient.{k} must be true or false, got {v!r}")
            elif k == "sex":
                if v not in ("F", "M"):
                    self.error(where, f"patient.sex must be 'F' or 'M', got {v!r}")
            else:
                self.error(where, f"unknown patient field {k!r}")

    def check_concept(self, where, concept, ann, named):
        if concept not in CONCEPTS:
            self.error(where, f"unknown concept {concept!r}")
            return
        w = f"{where} {concept}"
        if not isinstance(ann, dict):
            self.error(w, "annotation must be an object")
            return
        status = ann.get("status")
        if status not in STATUSES:
            self.error(w, f"status {status!r} not one of {', '.join(sorted(STATUSES))}")
        for k in ann:
            if k == "status":
                continue
            if k not in ATTRIBUTES:
                self.error(w, f"unknown attribute {k!r}")
            elif ATTRIBUTES[k] is not None and concept not in ATTRIBUTES[k]:
                self.error(w, f"attribute {k!r} does not belong to {concept}")
            elif status == "absent":
                self.error(w, f"an absent concept carries no attributes (found {k!r})")
        if "levels" in ann:
            self.check_levels(w, ann["levels"], named)
        if "severity" in ann and ann["severity"] not in SEVERITIES:
            self.error(w, f"severity {ann['severity']!r} not one of {', '.join(sorted(SEVERITIES))}")
        if "acuity" in ann and ann["acuity"] not in ACUITIES:
            self.error(w, f"acuity {ann['acuity']!r} not one of {', '.join(sorted(ACUITIES))}")
        if "direction" in ann:
            allowed = LISTHESIS_DIRECTIONS if concept == "spondylolisthesis" else CURVE_DIRECTIONS
            if ann["direction"] not in allowed:
                self.error(w, f"direction {ann['direction']!r} not one of {', '.join(sorted(allowed))}")
        for k, lo, hi in (
            ("genant_grade", 1, 3),
            ("meyerding_grade", 1, 5),
        ):
            if k in ann and (not isinstance(ann[k], int) or isinstance(ann[k], bool) or not lo <= ann[k] <= hi):
                self.error(w, f"{k} must be an integer {lo}..{hi}, got {ann[k]!r}")
        for k, lo, hi in (
            ("height_loss_pct", 0, 100),
            ("slip_mm", 0, 100),
            ("cobb_degrees", 0, 180),
        ):
            if k in ann and (not is_number(ann[k]) or not lo < ann[k] <= hi):
                self.error(w, f"{k} must be a number in ({lo}, {hi}], got {ann[k]!r}")
        pct = ann.get("height_loss_pct")
        if is_number(pct):
            expected = genant_for(pct)
            got = ann.get("genant_grade")
            if expected is not None and got is None:
                self.error(w, f"height loss {pct}% gives Genant grade {expected}; annotate it")
            elif expected is not None and got is not None and got < expected:
                self.error(w, f"Genant grade {got} is below the grade {expected} of the {pct}% height loss")

    def check_levels(self, w, levels, named):
        if not isinstance(levels, list) or not levels:
            self.error(w, "levels must be a non-empty list (leave the key out when no level is stated)")
            return
        idx = []
        for lv in levels:
            if lv not in VERTEBRAE:
                self.error(w, f"level {lv!r} not in C1..C7, T1..T12, L1..L5, S1..S5")
                return
            idx.append(VERTEBRAE.index(lv))
        if len(set(idx)) != len(idx):
            self.error(w, "levels repeat")
        elif idx != sorted(idx):
            self.error(w, "levels must be listed cranial to caudal")
        for lv in levels:
            if lv not in named:
                self.warn(w, f"level {lv} is not named in the text")

    def check_actions(self, where, actions):
        if not isinstance(actions, dict):
            self.error(where, "actions must be an object with 'required'/'forbidden' lists")
            return
        for k in ("required", "forbidden"):
            if k not in actions:
                self.error(where, f"actions.{k} is missing (use [] when there is none)")
        lists = {}
        for k, v in actions.items():
            if k not in ("required", "forbidden"):
                self.error(where, f"unknown actions key {k!r}")
                continue
            if not isinstance(v, list) or not all(isinstance(a, str) for a in v):
                self.error(where, f"actions.{k} must be a list of action ids")
                continue
            lists[k] = v
            for a in v:
                if a not in ACTIONS:
                    self.error(where, f"actions.{k}: {a!r} is not an action id of the contract")
            if len(set(v)) != len(v):
                self.error(where, f"actions.{k} repeats an action id")
        both = set(lists.get("required", [])) & set(lists.get("forbidden", []))
        if both:
            self.error(where, f"actions both required and forbidden: {', '.join(sorted(both))}")


def print_stats(files):
    """Counts per file: reports per kind, patient context, and status per concept."""
    for path in files:
        kinds, statuses, with_patient, n = {}, {}, 0, 0
        with_actions, action_counts = 0, {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(obj, dict):
                    continue
                n += 1
                kinds[obj.get("kind")] = kinds.get(obj.get("kind"), 0) + 1
                with_patient += "patient" in obj
                acts = obj.get("actions")
                if isinstance(acts, dict):
                    with_actions += 1
                    for k in ("required", "forbidden"):
                        for a in acts.get(k) or []:
                            key = (a, k)
                            action_counts[key] = action_counts.get(key, 0) + 1
                for c, ann in (obj.get("gold") or {}).items():
                    if isinstance(ann, dict):
                        key = (c, ann.get("status"))
                        statuses[key] = statuses.get(key, 0) + 1
        print(f"{path}: {n} report(s), {with_patient} with patient context")
        for k in sorted(kinds, key=lambda k: (-kinds[k], str(k))):
            print(f"  kind {k}: {kinds[k]}")
        print(f"  {'concept':<22} present absent uncertain")
        for c in CONCEPTS:
            row = [statuses.get((c, s), 0) for s in ("present", "absent", "uncertain")]
            print(f"  {c:<22} {row[0]:>7} {row[1]:>6} {row[2]:>9}")
        if with_actions:
            print(f"  {with_actions} report(s) with actions")
            print(f"  {'action':<38} required forbidden")
            for a in sorted(ACTIONS, key=lambda a: ACTION_ORDER.index(a)):
                r, f = action_counts.get((a, "required"), 0), action_counts.get((a, "forbidden"), 0)
                print(f"  {a:<38} {r:>8} {f:>9}")


def main(argv):
    stats = "--stats" in argv
    argv = [a for a in argv if a != "--stats"]
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv or sorted(
        os.path.join(here, f) for f in os.listdir(here) if f.endswith(".jsonl")
    )
    if not files:
        print("no .jsonl files to check")
        return 1
    c = Checker()
    for path in files:
        try:
            c.check_file(path)
        except OSError as e:
            c.error(path, f"cannot read ({e.strerror})")
    if stats:
        print_stats([f for f in files if os.path.exists(f)])
    print(f"{len(files)} file(s), {c.records} record(s), {c.errors} error(s), {c.warnings} warning(s)")
    return 1 if c.errors else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        # Output piped into `head`: stop quietly.
        sys.stderr.close()
        sys.exit(1)
