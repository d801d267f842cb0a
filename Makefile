# Front door. The build itself is meson + ninja; these targets chain the steps a user wants.
BUILD ?= build

.PHONY: all deps build guest run check bench clean
all: build

deps:
	scripts/install-deps.sh

build: deps
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD)
	ninja -C $(BUILD)

guest: deps
	scripts/guest-image.sh

# Boots the default guest to a shell. NET=user gives it a network card on gureum's user-mode
# NAT (an address by DHCP, no root or tap needed).
run: build guest
	scripts/run.sh $(if $(NET),$(if $(filter user,$(NET)),--net,$(error NET=$(NET): the one network here is NET=user)))

# The whole test suite: unit (also under ASan/UBSan), guest payloads, fuzzing, nested lab.
check: deps
	scripts/check.sh

# gureum beside QEMU microvm in the nested lab: boot time, exits, RSS, start-up (bench/README.md).
bench: build guest
	bench/boot.sh

clean:
	rm -rf $(BUILD) build-asan out
