# Pixashot for Cloud Run. `make run` starts the service locally; `make test` runs every test.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/pixashot
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# What a capture needs, exactly as the Dockerfile installs it (the fonts
# included, so local and production renders match), and what the tests add.
PKGS_BROWSER := chromium-headless-shell fonts-liberation fonts-dejavu-core fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji \
                webext-ublock-origin-chromium
PKGS_TEST    := $(PKGS_BROWSER) redis-server ca-certificates poppler-utils

# Linters for the infrastructure, built from source through the module proxy.
TOOLS          := $(CURDIR)/.tools
TFLINT_VERSION := v0.64.0
TFSEC_VERSION  := v1.26.0

.PHONY: build run test image image-test lint-infra bench deps-browser deps-test deps-npm deps-npm-dev clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./function/cmd/pixashot

# Install whichever of the packages are missing, from Debian, without
# recommends (no printer stack). One recipe for `make run`, `make test` and
# .ci/run.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing from Debian's packages:" $$missing; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

deps-browser:
	$(call apt_install,$(PKGS_BROWSER))

deps-test:
	$(call apt_install,$(PKGS_TEST))

# DuckDuckGo's autoconsent (block_cookie_banners), exactly as the committed
# lock file pins it; Debian's npm when none is installed.
AUTOCONSENT := node_modules/@duckduckgo/autoconsent/package.json
deps-npm: $(AUTOCONSENT)
$(AUTOCONSENT): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "Installing npm from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

# The tests' own npm packages too (pixelmatch, the reference for the diffs'
# counts): every dependency the lock file pins.
PIXELMATCH := node_modules/pixelmatch/package.json
deps-npm-dev: $(AUTOCONSENT) $(PIXELMATCH)
$(PIXELMATCH): package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@ $(AUTOCONSENT)

# Local run on embedded defaults: no cloud account. A dev token, a URL
# signing key and a webhook key are generated unless set.
run: build deps-browser deps-npm
	@token="$${AUTH_TOKEN:-$$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}"; \
	signing="$${URL_SIGNING_KEY:-$$(head -c 32 /dev/urandom | base64)}"; \
	hooks="$${WEBHOOK_SIGNING_KEY:-whsec_$$(head -c 32 /dev/urandom | base64)}"; \
	port="$${PORT:-8080}"; nosandbox="$${CHROME_NO_SANDBOX:-false}"; \
	if [ "$$(id -u)" = 0 ]; then nosandbox=true; echo "Running as root: Chrome starts WITHOUT its sandbox (make run as a normal user keeps it)"; fi; \
	echo "Pixashot on http://localhost:$$port  (dev token: $$token)"; \
	echo "Playground: http://localhost:$$port/   Webhooks are signed with $$hooks"; \
	echo "Try:  curl -H 'Authorization: Bearer $$token' -H 'Content-Type: application/json' \\"; \
	echo "        -d '{\"url\":\"https://example.com\"}' -o shot.png http://localhost:$$port/capture"; \
	echo "  or: PIXASHOT_URL=http://localhost:$$port PIXASHOT_TOKEN=$$token bin/pixashot capture https://example.com"; \
	AUTH_TOKEN="$$token" URL_SIGNING_KEY="$$signing" WEBHOOK_SIGNING_KEY="$$hooks" PORT="$$port" CHROME_NO_SANDBOX="$$nosandbox" exec ./$(BIN)

# Run as root, the tests (and the go commands that build them) run as an
# ordinary user, created if missing, with its own Go caches: Chrome keeps its
# sandbox, as it does in production. Only a checkout that user cannot read
# keeps them as root (said, and Chrome then runs without its sandbox).
TEST_USER := pixashot-test
AS_TEST_USER := setpriv --reuid=$(TEST_USER) --regid=$(TEST_USER) --init-groups \
	env -u XDG_CACHE_HOME -u XDG_CONFIG_HOME HOME=/home/$(TEST_USER) GOCACHE= GOMODCACHE= GOENV= GOFLAGS=-buildvcs=false

# The tests that need root, and only those, then run as root: one mounts a
# tmpfs to fill it, the other's page server listens on port 443.
ROOT_TESTS := ^(TestLocalStoreFullOrReadOnly|TestOriginalPixashotCorpus)$$

test: deps-test deps-npm-dev lint-infra
	@set -e; as=""; \
	if [ "$$(id -u)" = 0 ]; then \
		if ! id -u $(TEST_USER) >/dev/null 2>&1; then \
			echo "Creating the user $(TEST_USER): the tests run as it, with Chrome's sandbox on"; \
			useradd --system --create-home --home-dir /home/$(TEST_USER) --shell /usr/sbin/nologin $(TEST_USER); fi; \
		if $(AS_TEST_USER) test -r go.mod -a -r node_modules; then as="$(AS_TEST_USER)"; \
		else echo "WARNING: $(TEST_USER) cannot read $(CURDIR): the tests run as root, Chrome without its sandbox"; fi; \
	fi; \
	echo "go vet ./... && go test ./...$${as:+ (as $(TEST_USER))}"; \
	$$as $(GO) vet ./...; \
	if [ -n "$$as" ]; then \
		$$as $(GO) test -count=1 -timeout 20m -skip '$(ROOT_TESTS)' ./...; \
		echo "as root: $(ROOT_TESTS)"; $(GO) test -count=1 -run '$(ROOT_TESTS)' ./internal/faults ./internal/compat; \
	else $(GO) test -count=1 -timeout 20m ./...; fi

# The Dockerfile's image, built on a machine with no Docker engine and no
# registry of base images: .ci/image builds local stand-ins under the names
# the Dockerfile asks for (and says so), then the Dockerfile, unchanged.
IMAGE := localhost/pixashot:local
image:
	.ci/image prepare
	.ci/image standins
	IMAGE=$(IMAGE) .ci/image build

# The built image run as Cloud Run runs it (internal/imagetest), under crun
# and under gVisor (runsc).
image-test:
	.ci/image prepare
	$(call apt_install,poppler-utils)
	@set -o pipefail; for rt in crun runsc; do echo "== image-test under $$rt"; \
		CONTAINERS_CONF=$(TOOLS)/image/containers.conf PIXASHOT_IMAGE=$(IMAGE) PIXASHOT_RUNTIME=$$rt \
		$(GO) test -count=1 -v -timeout 15m ./internal/imagetest/ | grep -vE '^=== (RUN|PAUSE|CONT)' || exit 1; done

# The benchmark (not part of test): the service against the engine's floor
# and a playwright-core peer on the same page and Chrome; prints a table.
bench: build deps-browser deps-npm
	$(GO) run ./internal/bench -bin $(BIN) -peer-dir $(TOOLS)/peer

# terraform fmt (when terraform is installed), tflint with its bundled
# ruleset, tfsec, and the Go checks of terraform/, Dockerfile and
# cloudbuild.yaml (internal/deploycheck, also part of go test ./...).
lint-infra: $(TOOLS)/tflint $(TOOLS)/tfsec
	@if command -v terraform >/dev/null 2>&1; then \
		terraform fmt -check -recursive -diff terraform 2>/dev/null && echo "terraform fmt: ok"; \
	else echo "terraform not installed: fmt check skipped"; fi
	$(TOOLS)/tflint --chdir=terraform
	$(TOOLS)/tfsec terraform --no-color --concise-output
	$(GO) test -count=1 ./internal/deploycheck/

$(TOOLS)/tflint:
	GOBIN=$(TOOLS) $(GO) install github.com/terraform-linters/tflint@$(TFLINT_VERSION)

$(TOOLS)/tfsec:
	GOBIN=$(TOOLS) $(GO) install github.com/aquasecurity/tfsec/cmd/tfsec@$(TFSEC_VERSION)

clean:
	rm -rf bin captures $(TOOLS) node_modules
