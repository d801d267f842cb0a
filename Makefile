# Convenience wrapper; the real build is meson (see README).
BUILD ?= build

.PHONY: all run check unit clean
all:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

clean:
	rm -rf $(BUILD) build-asan
