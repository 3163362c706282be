"""The child process of grading: run one student's exercise source on given inputs and write what it returned.

``python exercise_run.py FOLDER`` (started by :mod:`gazelab.authoring.grading` inside
:mod:`gazelab.authoring.sandbox`) reads ``FOLDER/request.json``, ``FOLDER/solution.py`` (the student's solution
cells, nothing else of their notebook) and ``FOLDER/inputs.pt`` (the cases, drawn by the parent from the course's
secret; the folder is read-only), executes the solution's top-level statements in a namespace of its own (the notebook's imports that the
source needs, ``use`` and ``grade`` of its own), takes the student's function, calls it on every case and writes
its report on stdout, after :data:`MARKER` (whatever the student's code printed comes before): each result encoded as JSON (:func:`encode`), or the exception it raised, and the library
functions it was seen calling. It gives no verdict: the parent compares the results with the reference values it
computed itself, so nothing the student's code does in this process (patching gazelab, the profiler, ``grade``)
can make a wrong or missing result pass.

``python exercise_run.py --probe`` only imports torch and writes a report: the parent times it to size the wall-clock limit and to check that the sandbox starts at all.

This file imports only the standard library and torch at the top: it is also the parent's encoder / decoder.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import json
import math
import sys
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MARKER = "\n@@gazelab-exercise-report@@ "
"""What precedes the report (one line of JSON) on stdout."""
MAX_ELEMENTS = 2_000_000
"""Numbers one case's result may hold once encoded (a runaway result is an error, not a huge file)."""


class Unencodable:
    """A result the child could not encode (a module, a generator ...): compares as wrong."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


# ------------------------------------------------------------------------------------------------ JSON encoding
def encode(value: Any, _budget: list[int] | None = None) -> Any:
    """``value`` as plain JSON: tensors and arrays as {"__tensor__": dtype, "shape", "data"}, dataclasses as
    {"__dataclass__": name, "fields"}, dicts as {"__dict__": {...}} (str keys), sequences as lists."""
    import torch

    budget = [MAX_ELEMENTS] if _budget is None else _budget

    def spend(n: int) -> None:
        budget[0] -= n
        if budget[0] < 0:
            raise ValueError(f"the result holds more than {MAX_ELEMENTS} numbers")

    if value is None or isinstance(value, (bool, str)):
        spend(1)
        return value
    if isinstance(value, (int, float)):
        spend(1)
        return {"__float__": repr(float(value))} if isinstance(value, float) and not math.isfinite(value) else value
    if "numpy" in sys.modules:
        import numpy as np

        if isinstance(value, np.generic):
            return encode(value.item(), budget)
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in "biuf":
                return {"__object__": f"numpy array of {value.dtype}"}
            value = torch.from_numpy(np_copy(value))
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        if tensor.is_complex() or tensor.layout != torch.strided:
            return {"__object__": f"tensor {tensor.dtype} {tensor.layout}"}
        spend(tensor.numel())
        data = [x if math.isfinite(x) else repr(x) for x in tensor.double().reshape(-1).tolist()]
        return {"__tensor__": str(tensor.dtype).removeprefix("torch."), "shape": list(tensor.shape), "data": data}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__,
                "fields": {f.name: encode(getattr(value, f.name), budget) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            return {"__object__": "a dict with keys that are not strings"}
        return {"__dict__": {k: encode(v, budget) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        spend(1)
        return [encode(v, budget) for v in value]
    return {"__object__": type(value).__name__}


def np_copy(array):
    import numpy as np

    return np.ascontiguousarray(array).copy()


def decode(value: Any) -> Any:
    """The inverse of :func:`encode` (tensors, dicts, lists, numbers; dataclasses as dicts that keep their type's
    name under "__dataclass__", so a plain dict never equals one)."""
    import torch

    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__float__" in value:
        return float(value["__float__"])
    if "__tensor__" in value:
        dtype = getattr(torch, str(value["__tensor__"]), None)
        if not isinstance(dtype, torch.dtype):
            return Unencodable(f"tensor of {value['__tensor__']!r}")
        data = [float(x) for x in value["data"]]
        return torch.tensor(data, dtype=torch.float64).reshape(value["shape"]).to(dtype)
    if "__dataclass__" in value:
        return {"__dataclass__": str(value["__dataclass__"]), **{k: decode(v) for k, v in value["fields"].items()}}
    if "__dict__" in value:
        return {k: decode(v) for k, v in value["__dict__"].items()}
    return Unencodable(str(value.get("__object__", "object")))


# --------------------------------------------------------------------------------------------------- the child
def _resolve(module: str, qualname: str) -> Any:
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _error(error: BaseException) -> dict:
    where = error.__traceback__
    line, function = None, None
    while where is not None:  # the innermost frame of the student's source
        if where.tb_frame.f_code.co_filename == "<solution>":
            line, function = where.tb_lineno, where.tb_frame.f_code.co_name
        where = where.tb_next
    return {"type": type(error).__name__, "message": str(error)[:300], "line": line, "function": function,
            "not_written": isinstance(error, NotImplementedError)}


def run_request(folder: Path) -> dict:
    import torch

    torch.set_num_threads(1)
    request = json.loads((folder / "request.json").read_text())
    key, graded = request["key"], request["function"]
    cases = torch.load(folder / "inputs.pt", weights_only=False)
    references: dict[str, Any] = {}

    def reference(other: str) -> Any:
        if other not in references:
            where = request["references"].get(other)
            if where is None:
                from gazelab.teach.exercises import EXERCISES

                references[other] = EXERCISES[other].reference
            else:
                references[other] = _resolve(*where)
        return references[other]

    def use(other, fn, *args, **kwargs):
        """The notebook's check, here: the exercise being graded keeps the student's function; another exercise's
        name is bound to gazelab's reference (what the notebook goes on with when that one is not solved)."""
        return fn if other == key else reference(other)

    def grade(*args, **kwargs):
        return None

    forbidden = [_resolve(*where) for where in request["forbidden"]]
    codes = {getattr(f, "__code__", None): ".".join(where) for f, where in zip(forbidden, request["forbidden"])}
    codes.pop(None, None)
    outcome = None
    if request["outcome"]:
        from gazelab.teach.exercises import EXERCISES

        outcome = EXERCISES[key].outcome
    namespace: dict[str, Any] = {"__name__": "__solution__", "__builtins__": builtins}
    report: dict[str, Any] = {"statements": [], "cases": [], "hits": []}
    for line in request["preamble"]:  # the notebook's own imports (from the instructor's copy), trusted
        try:
            exec(compile(line, "<preamble>", "exec"), namespace)
        except Exception as error:  # noqa: BLE001
            report["statements"].append(f"the notebook's `{line}` failed here: {type(error).__name__}: {error}")
    for name, other in request["bindings"].items():
        namespace[name] = reference(other)
    namespace["use"], namespace["grade"] = use, grade

    import ast

    tree = ast.parse((folder / "solution.py").read_text(), "<solution>")
    # the output channel, held before the student's code runs (it may rebind json, print or sys.stdout)
    import os

    dump, channel = json.dumps, os.fdopen(os.dup(1), "w", encoding="utf-8")
    for statement in tree.body:
        try:
            exec(compile(ast.Module([statement], type_ignores=[]), "<solution>", "exec"), namespace)
        except BaseException as error:  # noqa: BLE001 - a top-level statement that fails does not stop grading
            report["statements"].append(f"line {statement.lineno}: {type(error).__name__}: {str(error)[:200]}")
    fn = namespace.get(graded)
    report["defined"] = callable(fn)
    if callable(fn) and (any(fn is f for f in forbidden) or getattr(fn, "__code__", None) in codes):
        report["alias"] = codes.get(getattr(fn, "__code__", None), "the library's function")
    elif callable(fn):
        hits: list[str] = []

        def profiler(frame, event, arg):
            if event == "call" and frame.f_code in codes and codes[frame.f_code] not in hits:
                hits.append(codes[frame.f_code])

        for inputs in cases:
            sys.setprofile(profiler)
            threading.setprofile(profiler)
            try:
                if outcome is not None:
                    value = outcome(fn, inputs)
                else:
                    value = fn(**inputs) if isinstance(inputs, dict) else fn(*inputs)
                sys.setprofile(None)
                threading.setprofile(None)
                report["cases"].append({"value": encode(value)})
            except BaseException as error:  # noqa: BLE001
                sys.setprofile(None)
                threading.setprofile(None)
                report["cases"].append({"error": _error(error)})
                break
        report["hits"] = hits
    channel.write(MARKER + dump(report) + "\n")
    channel.flush()
    return report


def main(argv: list[str]) -> int:
    if argv[:1] == ["--probe"]:
        import torch  # noqa: F401 - what every grading child imports first

        print(MARKER + json.dumps({"probe": True}), flush=True)
        return 0
    try:
        run_request(Path(argv[0]))
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
