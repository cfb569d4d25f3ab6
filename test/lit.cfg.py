# lit configuration for dyad's test suite.
import os
import lit.formats

config.name = "dyad"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".dy", ".test"]
config.excludes = ["Inputs", "fuzz", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dyad_obj_root, "test")

# dyad's tools first, then LLVM's FileCheck, not, count, split-file.
path = os.pathsep.join([config.dyad_tools_dir, config.llvm_tools_dir,
                        config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%srcroot", config.dyad_src_root))
if config.dyad_sanitize in ("ON", "1", "TRUE"):
    config.available_features.add("sanitize")
    config.environment["ASAN_OPTIONS"] = "detect_leaks=1"
# Tests that make device nodes (mknod) run only as root.
if hasattr(os, "geteuid") and os.geteuid() == 0:
    config.available_features.add("root")
# The backend's tests link generated objects with the host C compiler and,
# for AArch64 and RISC-V, with Debian's cross compilers under qemu-user
# (scripts/install-deps.sh installs them; the tests fail without them).
config.substitutions.append(("%cc", "cc"))

# The x86 instructions this machine runs: code for a level it has runs
# natively; AVX2 code otherwise runs under qemu-x86_64 -cpu max (QEMU 7.2
# emulates AVX2, not AVX-512 or AVX-VNNI, whose runs need the hardware).
cpu_flags = set()
try:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                cpu_flags = set(line.split(":", 1)[1].split())
                break
except OSError:
    pass
if "avx2" in cpu_flags:
    config.available_features.add("cpu-avx2")
    config.substitutions.append(("%run-avx2", ""))
else:
    config.substitutions.append(("%run-avx2", "qemu-x86_64 -cpu max"))
if {"avx2", "avx_vnni"} <= cpu_flags:
    config.available_features.add("cpu-avxvnni")
if {"avx512f", "avx512bw", "avx512vl"} <= cpu_flags:
    config.available_features.add("cpu-avx512")
if {"avx512f", "avx512bw", "avx512_vnni"} <= cpu_flags:
    config.available_features.add("cpu-avx512vnni")

# Cases per target configuration of the random kernel tester
# (test/CodeGen/ktest-*.test): 2000 unless DYAD_KTEST_CASES says otherwise
# (.ci/run uses fewer in its sanitizer and Release rebuilds).
config.substitutions.append(
    ("%ktest-cases", os.environ.get("DYAD_KTEST_CASES", "2000")))
