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
# Debian packages the host needs to build and boot images; runc (to check
# sysd's containers against it), cloud-image-utils (cloud-localds makes
# NoCloud seeds) and iproute2 (network namespaces) only for tests.
HOST_PKGS := qemu-system-x86 qemu-utils ovmf systemd-boot-efi squashfs-tools mtools dosfstools gdisk e2fsprogs kmod dpkg apt runc cloud-image-utils iproute2
TEST_TIMEOUT ?= 60m

.PHONY: all deps image test-releases run run-efi test unit bench lock binaries clean

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

binaries: deps
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/berth-init ./cmd/berth-init
	$(GOBUILD) -o $(BIN)/sysd ./cmd/sysd
	$(GOBUILD) -o $(BIN)/berth-container-init ./cmd/berth-container-init
	$(GOBUILD) -o $(BIN)/berth-image ./cmd/berth-image
	$(GOBUILD) -o $(BIN)/berth-release ./cmd/berth-release

# The release signing keys: made once, never committed (build/ is not).
$(BUILD)/keys/root.json: | binaries
	$(BIN)/berth-release init --keys $(BUILD)/keys

image: deps binaries $(BUILD)/keys/root.json
	$(BIN)/berth-image build -version $(VERSION) -bin $(BIN) -out $(BUILD) -cache $(BUILD)/cache -trust $(BUILD)/keys/root.json
	@ls -l $(BUILD)/release $(BUILD)/disk.img

# Releases the update tests install over the image: 0.2.0 is the image
# under a newer version; 0.3.0 carries a service that fails, so its health
# gate fails.
TEST_RELEASES := $(BUILD)/test-releases
RELEASE_BUILD = $(BIN)/berth-image build -no-disk -bin $(BIN) -cache $(BUILD)/cache -trust $(BUILD)/keys/root.json
test-releases: image
	$(RELEASE_BUILD) -version 0.2.0 -out $(TEST_RELEASES)/0.2.0
	$(RELEASE_BUILD) -version 0.3.0 -overlay qemu/tests/testdata/broken-release -out $(TEST_RELEASES)/0.3.0
	rm -rf $(TEST_RELEASES)/*/work

# Boots the disk through OVMF and systemd-boot on this terminal's serial
# console; SSH is forwarded to port 2222. Ctrl-A X quits QEMU.
run: image
	$(GO) run ./cmd/berth-vm -disk $(BUILD)/disk.img

lock: deps binaries
	$(BIN)/berth-image lock -rootfs rootfs

unit:
	$(GO) vet ./...
	$(GO) test ./...

test: image test-releases
	$(GO) vet ./...
	BERTH_BUILD=$(CURDIR)/$(BUILD) $(GO) test -timeout $(TEST_TIMEOUT) -count=1 ./...

bench: image test-releases
	$(GO) run ./cmd/berth-bench -build $(BUILD) -n $${N:-5} -smp $${SMP:-1}

clean:
	rm -rf $(BUILD)/work $(BUILD)/release $(BUILD)/disk.img $(BIN)
