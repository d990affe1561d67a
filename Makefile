# Berth: `make run` builds the image and boots it; `make test` runs every test.
SHELL := /bin/bash
GO ?= go
VERSION ?= 0.1.0
BUILD := build
BIN := $(BUILD)/bin
# Every timestamp in the image comes from the last commit: reproducible.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
export SOURCE_DATE_EPOCH
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags="-s -w -buildid="
# Debian packages the host needs to build and boot images (the image's own
# packages come through berth-image's own apt: rootfs/apt, build/apt; the
# host gives only apt-get, dpkg-deb and Debian's archive keyring), and openssh-client
# for `make ssh`; runc (to check sysd's containers against it),
# cloud-image-utils (cloud-localds makes NoCloud seeds), docker-registry (the
# registries Docker pushes to and pulls from), iproute2 (network
# namespaces) and tmux (the terminal `make run` is tested in) only for tests.
HOST_PKGS := debian-archive-keyring qemu-system-x86 qemu-utils ovmf squashfs-tools cryptsetup-bin mtools dosfstools xorriso gdisk e2fsprogs kmod dpkg apt runc cloud-image-utils iproute2 tmux docker-registry openssh-client
TEST_TIMEOUT ?= 75m

.PHONY: all deps image images iso test-releases run ssh test unit portable bench fuzz lock binaries clean
# A target whose recipe fails leaves no half-made file that looks up to date.
.DELETE_ON_ERROR:

all: image

# Install what is missing, once; apt-get update only when needed.
deps: $(BUILD)/.deps
$(BUILD)/.deps: Makefile
	@command -v $(GO) >/dev/null || { echo "Go is not on PATH: install Go 1.21 or newer (it fetches the toolchain go.mod names)"; exit 1; }
	@mkdir -p $(BUILD)
	@missing=$$(for p in $(HOST_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ] || ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then \
		echo "installing host packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

# The programs that go into the image, and the release tool.
IMAGE_CMDS := berth-init sysd berth-container-init berth-image berth-release
define build-binaries
	@mkdir -p $(BIN)
	$(foreach c,$(IMAGE_CMDS),$(GOBUILD) -o $(BIN)/$(c) ./cmd/$(c)
	)
endef

binaries: deps
	$(build-binaries)

# Everything the image is made of. When none of it changed since the last
# build (and VERSION is the same), `make image` and `make run` build
# nothing.
IMAGE_INPUTS := $(shell find $(addprefix cmd/,$(IMAGE_CMDS)) init sysd image rootfs update internal -mindepth 1 \( -type f -o -type d \) 2>/dev/null) go.mod go.sum
# The stamp's name holds the version; making it removes the others, so
# going back to an earlier VERSION builds again too.
VERSION_STAMP := $(BUILD)/.image-version-$(VERSION)
$(VERSION_STAMP):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.image-version-*
	@touch $@

image: $(BUILD)/disk.img
$(BUILD)/disk.img: $(IMAGE_INPUTS) $(VERSION_STAMP) | $(BUILD)/.deps
	$(build-binaries)
	@# The release signing keys: made once, never committed (build/ is not).
	@test -f $(BUILD)/keys/root.json || $(BIN)/berth-release init --keys $(BUILD)/keys
	$(BIN)/berth-image build -version $(VERSION) -bin $(BIN) -out $(BUILD) -cache $(BUILD)/cache -apt $(BUILD)/apt -trust $(BUILD)/keys/root.json
	@touch $@
	@ls -l $(BUILD)/release $(BUILD)/disk.img

# The disk for hypervisors: build/images/berth.{qcow2,vmdk,ova,vhd}.
images: $(BUILD)/images/.done
$(BUILD)/images/.done: $(BUILD)/disk.img
	$(BIN)/berth-image images -out $(BUILD)
	@touch $@

# The installer medium: build/images/berth.iso, a hybrid ISO (UEFI from a
# CD-ROM, or written to a USB stick) that boots the live system and
# installs Berth on a disk (docs/install.md).
iso: $(BUILD)/images/berth.iso
$(BUILD)/images/berth.iso: $(BUILD)/disk.img
	$(BIN)/berth-image iso -out $(BUILD)

# Releases the update tests install over the image: 0.2.0 is the image
# under a newer version; 0.3.0 carries a service that fails, so its health
# gate fails.
TEST_RELEASES := $(BUILD)/test-releases
RELEASE_BUILD = $(BIN)/berth-image build -no-disk -bin $(BIN) -cache $(BUILD)/cache -apt $(BUILD)/apt -trust $(BUILD)/keys/root.json
test-releases: $(TEST_RELEASES)/.done
$(TEST_RELEASES)/.done: $(BUILD)/disk.img $(shell find qemu/tests/testdata/broken-release -type f 2>/dev/null)
	$(RELEASE_BUILD) -version 0.2.0 -out $(TEST_RELEASES)/0.2.0
	$(RELEASE_BUILD) -version 0.3.0 -overlay qemu/tests/testdata/broken-release -out $(TEST_RELEASES)/0.3.0
	# 0.5.0 adds one Debian package (socat) to the console image, every
	# other package at the version the lock pins: the delta updates' test.
	rm -rf $(TEST_RELEASES)/rootfs-socat && cp -r rootfs $(TEST_RELEASES)/rootfs-socat
	echo socat >> $(TEST_RELEASES)/rootfs-socat/packages/image-console.list
	$(BIN)/berth-image lock -keep -rootfs $(TEST_RELEASES)/rootfs-socat -cache $(BUILD)/cache -apt $(BUILD)/apt
	# It also boots with one kernel argument more: a slot's entry takes
	# the release's arguments, not the running updater's.
	$(RELEASE_BUILD) -rootfs $(TEST_RELEASES)/rootfs-socat -version 0.5.0 -kernel-arg printk.devkmsg=on -out $(TEST_RELEASES)/0.5.0
	rm -rf $(TEST_RELEASES)/*/work
	@touch $@

# Boots the disk through OVMF and systemd-boot on this terminal's serial
# console, SSH forwarded to port $(SSH_PORT), your SSH key (or one made
# under build/ssh) given to the machine as user-data; it prints the ssh
# command once the machine is ready. Ctrl-A X quits QEMU.
# RUN_FLAGS: more berth-vm flags (-direct A, -m 2048, -keep, -user-data FILE).
SSH_PORT ?= 2222
run: image
	$(GO) run ./cmd/berth-vm -build $(BUILD) -ssh $(SSH_PORT) $(RUN_FLAGS)

# Logs in to the machine `make run` booted.
ssh:
	@$(GO) run ./cmd/berth-vm ssh -build $(BUILD) -ssh $(SSH_PORT)

lock: binaries
	$(BIN)/berth-image lock -rootfs rootfs -cache $(BUILD)/cache -apt $(BUILD)/apt

# Linux-only code lives in _linux.go files: the tree builds and vets
# for another OS too (editors, a developer's Mac).
portable:
	GOOS=darwin $(GO) vet ./...

unit: portable
	$(GO) vet ./...
	$(GO) test ./...

# TESTFLAGS: more go test flags (-v shows each test's time, -run picks some).
test: image images iso test-releases portable
	$(GO) vet ./...
	BERTH_BUILD=$(CURDIR)/$(BUILD) $(GO) test -timeout $(TEST_TIMEOUT) -count=1 $(TESTFLAGS) ./...

bench: image iso test-releases
	$(GO) run ./cmd/berth-bench -build $(BUILD) -n $${N:-5} -smp $${SMP:-2}

# Every fuzz target (each parser of outside input has one) for FUZZTIME;
# prints each target's executions. A crasher stops it and is kept in the
# package's testdata/fuzz for `go test` to replay.
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); rc=$$?; \
	    echo "$$pkg $$f: $$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1)"; \
	    [ $$rc -eq 0 ] || { echo "$$out"; exit 1; }; \
	  done; \
	done

clean:
	rm -rf $(BUILD)/work $(BUILD)/release $(BUILD)/disk.img $(BIN)
