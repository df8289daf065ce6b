"""`python -m contracts` prints the JSON Schema of every integration event payload,
the envelope, and every HTTP model."""

import json
import sys

from pydantic import BaseModel

import contracts  # noqa: F401
from contracts import api
from contracts.envelope import Envelope, registered_event_types


def schemas() -> dict[str, dict]:
    out: dict[str, dict] = {"envelope": Envelope.model_json_schema()}
    for event_type, (version, model) in sorted(registered_event_types().items()):
        out[f"event:{event_type}:v{version}"] = model.model_json_schema()
    for name in sorted(vars(api)):
        obj = getattr(api, name)
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == api.__name__:
            out[f"http:{name}"] = obj.model_json_schema()
    return out


def main() -> None:
    json.dump(schemas(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
