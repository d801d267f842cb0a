# Sourced by tests/fuzz/run_fuzz_*.sh: where the sources and the built targets are, and how a
# target is compiled (clang, libFuzzer with ASan + UBSan), in one place.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${FUZZ_OUT:-$ROOT/build-fuzz}
# The software CPU and what it links against. Both emu targets build from this one list: a
# dependency added to the CPU once broke the one whose own list was not updated.
EMU_CPU_SOURCES="$ROOT/src/accel/emu/*.c $ROOT/src/accel/vcpu_state.c $ROOT/src/accel/cpu_features.c $ROOT/src/lib/log.c
	$ROOT/src/lib/guest_clock.c"

# fuzz_build TARGET ARGS...: compiles tests/fuzz/TARGET.c with ARGS (the sources it tests,
# libraries) into $OUT/TARGET.
fuzz_build() {
	target=$1
	shift
	clang -std=gnu11 -D_GNU_SOURCE -g -O1 -pthread -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=undefined -I"$ROOT/src" "$ROOT/tests/fuzz/$target.c" "$@" \
		-o "$OUT/$target"
}
