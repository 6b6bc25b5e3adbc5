"""docs/cnnc.schema.json against the specs cnnc ships: every spec in Models/ and scripts/, and
every spec or `train:` section written out in README.md and docs/ (a YAML code block), must validate;
specs with a mistake cnnc check refuses (an unknown key, a wrong type, an unknown layer type)
must not, or the schema checks nothing. That the schema names cnnc's own layer types and keys is
Tests/CNNCTests/SchemaTests.swift's part. Needs `pip install jsonschema pyyaml`.
Usage: python3 scripts/schema-check.py"""
import glob
import json
import os
import re
import sys

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class SpecLoader(yaml.SafeLoader):
    """YAML 1.2's numbers, as cnnc reads them: PyYAML (YAML 1.1) takes 1e-5 for a string."""


SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"),
    list("-+0123456789."))


def blocks(path, lenet):
    """The YAML code blocks of a Markdown file that are whole specs, and those that are a
    `train:` section alone, given LeNet's layers."""
    specs = []
    for block in re.findall(r"```yaml\n(.*?)```", open(path).read(), re.S):
        if "layers:" in block:
            specs.append(block)
        elif block.startswith("train:"):
            specs.append(lenet.split("train:")[0] + block)
    return specs


def main():
    schema = json.load(open(os.path.join(ROOT, "docs", "cnnc.schema.json")))
    validator = jsonschema.Draft7Validator(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    specs = sorted(glob.glob(os.path.join(ROOT, "Models", "*.yaml"))
                   + glob.glob(os.path.join(ROOT, "scripts", "**", "*.yaml"), recursive=True))
    cases = [(os.path.relpath(p, ROOT), open(p).read()) for p in specs]
    lenet_text = open(os.path.join(ROOT, "Models", "lenet.yaml")).read()
    for doc in ["README.md"] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))):
        found = blocks(os.path.join(ROOT, doc), lenet_text)
        cases += [(f"{os.path.relpath(doc, ROOT)} block {i + 1}", b) for i, b in enumerate(found)]
    failures = 0
    for name, text in cases:
        errors = list(validator.iter_errors(yaml.load(text, Loader=SpecLoader)))
        if errors:
            failures += 1
            print(f"FAIL: {name}: {errors[0].message} at {list(errors[0].absolute_path)}")
    print(f"{len(cases) - failures} of {len(cases)} specs validate")

    lenet = yaml.load(open(os.path.join(ROOT, "Models", "lenet.yaml")).read(), Loader=SpecLoader)
    mistakes = {
        "an unknown layer key": lambda s: s["layers"][0].update(filter=5),
        "an unknown layer type": lambda s: s["layers"][1].update(type="maxpooling"),
        "a key of another layer type": lambda s: s["layers"][1].update(units=3),
        "a kernel of three sizes": lambda s: s["layers"][0].update(kernel=[5, 5, 5]),
        "a negative pad": lambda s: s["layers"][0].update(pad=-1),
        "an unknown optimizer": lambda s: s["train"]["optimizer"].update(type="rmsprop"),
        "an unknown data format": lambda s: s["train"]["data"].update(format="hdf5"),
        "an unknown top-level key": lambda s: s.update(solver={}),
        "an input of two sizes": lambda s: s.update(input=[28, 28]),
    }
    for what, change in mistakes.items():
        spec = json.loads(json.dumps(lenet))
        change(spec)
        if validator.is_valid(spec):
            failures += 1
            print(f"FAIL: the schema accepts {what}")
    print(f"{len(mistakes)} mistakes checked")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
