"""Compile a CUDA kernel family for the CPU emulator (g++ + cuda_emu.h) and load it.

``build(code, include_dirs)`` parses every ``extern "C" __global__ void NAME(PARAMS)`` of the
source, appends one ``extern "C"`` launch wrapper per kernel
(``int ember_emu_launch_NAME(const ember_emu::Config*, char* err, int errlen, PARAMS)``),
compiles the result with g++ into a shared library, and returns its path and the parsed
kernel signatures. Libraries are cached by a hash of everything that goes into them (source,
headers of the include dirs, cuda_emu.h, compiler, flags) under
``$XDG_CACHE_HOME/ember/cuda-emu`` (or ``~/.cache/ember/cuda-emu``); a file lock per entry lets
parallel processes (pytest-xdist, several interpreters) share the cache without racing.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

HEADER = Path(__file__).with_name("cuda_emu.h")
CXX_FLAGS = ("-std=c++20", "-O1", "-fPIC", "-shared", "-pthread", "-fno-strict-aliasing",
             "-Wno-unused-function", "-DEMBER_CUDA_EMULATION=1")

# C parameter type -> (ctypes type name, NumPy dtype name for pointers / scalar type name).
# Pointers take device arrays of exactly that dtype; scalars take exactly that NumPy scalar type
# (as CuPy's RawKernel, which passes a Python int as a 64-bit value whatever the C type says).
POINTEE = {
    "float": "float32", "double": "float64", "int": "int32", "long long": "int64",
    "unsigned int": "uint32", "unsigned long long": "uint64", "unsigned char": "uint8",
    "signed char": "int8", "bool": "bool",
}
SCALARS = {
    "float": ("c_float", "float32"), "double": ("c_double", "float64"),
    "int": ("c_int32", "int32"), "long long": ("c_int64", "int64"),
    "unsigned int": ("c_uint32", "uint32"), "unsigned long long": ("c_uint64", "uint64"),
}


class EmuCompileError(RuntimeError):
    """g++ rejected a kernel source in emulation; the message carries g++'s diagnostics."""


@dataclass(frozen=True)
class Param:
    name: str
    ctype: str        # normalised C type without qualifiers: "float", "long long", ...
    pointer: bool
    const: bool

    def describe(self) -> str:
        return f"{'const ' if self.const else ''}{self.ctype}{'*' if self.pointer else ''} {self.name}"


_KERNEL_RE = re.compile(
    r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(([^)]*)\)')


def strip_comments(code: str) -> str:
    code = re.sub(r"/\*.*?\*/", " ", code, flags=re.S)
    return re.sub(r"//[^\n]*", "", code)


def _parse_param(kernel: str, text: str) -> Param:
    words = text.replace("*", " * ").split()
    words = [w for w in words if w != "__restrict__"]
    if words.count("*") > 1 or len(words) < 2 or not re.fullmatch(r"[A-Za-z_]\w*", words[-1]):
        raise EmuCompileError(f"kernel {kernel}: cannot parse parameter {text.strip()!r} (ember "
                              "kernels take T*, const T* and plain scalars only)")
    pointer = "*" in words
    type_words = [w for w in words[:-1] if w != "*"]
    const = "const" in type_words
    ctype = " ".join(w for w in type_words if w != "const")
    ctype = {"long long int": "long long", "unsigned": "unsigned int",
             "unsigned long long int": "unsigned long long"}.get(ctype, ctype)
    known = POINTEE if pointer else SCALARS
    if ctype not in known:
        raise EmuCompileError(
            f"kernel {kernel}: parameter {text.strip()!r} has a type the emulator does not pass "
            f"(pointers to {sorted(POINTEE)}; scalars {sorted(SCALARS)})")
    return Param(words[-1], ctype, pointer, const)


def parse_kernels(code: str) -> dict[str, tuple[Param, ...]]:
    """{kernel name: parameters} for every ``extern "C" __global__ void`` in ``code``."""
    kernels: dict[str, tuple[Param, ...]] = {}
    for m in _KERNEL_RE.finditer(strip_comments(code)):
        name, params = m.group(1), m.group(2).strip()
        parts = [p for p in params.split(",")] if params and params != "void" else []
        kernels[name] = tuple(_parse_param(name, p) for p in parts)
    return kernels


def _wrapper(name: str, params: tuple[Param, ...]) -> str:
    decl = "".join(f", {'const ' if p.const else ''}{p.ctype}{'*' if p.pointer else ''} {p.name}"
                   for p in params)
    args = ", ".join(p.name for p in params)
    return (f'extern "C" __attribute__((visibility("default"))) int ember_emu_launch_{name}('
            f"const ember_emu::Config* cfg, char* err, int errlen{decl}) {{\n"
            f"  return ember_emu::launch(*cfg, [=]() {{ {name}({args}); }}, err, errlen);\n}}\n")


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/ember/cuda-emu (or ~/.cache/...); a per-user temporary folder when
    that cannot be created (a read-only home in CI)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "ember" / "cuda-emu"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / f"ember-cuda-emu-{os.getuid()}"
        path.mkdir(parents=True, exist_ok=True)
    return path


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not cxx:
        raise EmuCompileError("CUDA emulation needs a C++20 compiler (g++): none found on PATH")
    return cxx


def _headers_digest(include_dirs) -> bytes:
    h = hashlib.sha256()
    for d in include_dirs:
        for p in sorted(Path(d).glob("*")):
            if p.suffix in (".cuh", ".h") and p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.digest()


def build(code: str, include_dirs=(), name: str = "module", defines=()) -> tuple[Path, dict]:
    """Compile ``code`` for emulation (cached); returns (library path, {kernel: params}).
    ``defines`` are -D options (NAME or NAME=VALUE) for g++."""
    kernels = parse_kernels(code)
    if not kernels:
        raise EmuCompileError(f'{name}: no extern "C" __global__ kernels found')
    cxx = _compiler()
    tu = code + "\n\n// ---- emulator launch wrappers ----\n" + "".join(
        _wrapper(k, p) for k, p in kernels.items())
    flags = list(CXX_FLAGS) + [f"-I{d}" for d in include_dirs] + [f"-D{d}" for d in defines]
    key = hashlib.sha256()
    for part in (tu.encode(), HEADER.read_bytes(), _headers_digest(include_dirs),
                 " ".join([cxx, *flags]).encode()):
        key.update(hashlib.sha256(part).digest())
    digest = key.hexdigest()[:32]
    out_dir = cache_dir()
    lib = out_dir / f"{name}-{digest}.so"
    if lib.exists():
        return lib, kernels
    with open(out_dir / f"{name}-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be compiling the same entry
        if not lib.exists():
            _compile(cxx, flags, tu, lib, name)
    return lib, kernels


def _compile(cxx: str, flags: list, tu: str, lib: Path, name: str) -> None:
    with tempfile.TemporaryDirectory(dir=lib.parent, prefix=".build-") as tmp:
        src = Path(tmp) / f"{name}.cpp"
        src.write_text(tu)
        tmp_lib = Path(tmp) / lib.name
        cmd = [cxx, *flags, "-include", str(HEADER), str(src), "-o", str(tmp_lib)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise EmuCompileError(
                f"CUDA emulation: g++ failed to compile kernel source {name!r}:\n"
                f"{proc.stderr.strip()}\ncommand: {' '.join(cmd)}")
        os.replace(tmp_lib, lib)  # atomic: a reader sees no library or a complete one
