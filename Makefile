# Pixashot for Cloud Run. `make run` starts the service locally; `make test` runs every test.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/pixashot
SUDO  := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PKGS_BROWSER := chromium-headless-shell fonts-liberation fonts-dejavu-core

# Linters for the infrastructure, built from source through the module proxy.
TOOLS          := $(CURDIR)/.tools
TFLINT_VERSION := v0.64.0
TFSEC_VERSION  := v1.26.0

.PHONY: build run test lint-infra bench deps-browser clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./function/cmd/pixashot

# Installs Debian's headless Chromium if no browser is there yet.
deps-browser:
	@if [ -z "$$CHROME_PATH" ] && [ ! -x /usr/bin/chromium-headless-shell ] && [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Chromium from Debian's packages..."; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(PKGS_BROWSER); \
	fi

# Local run on embedded defaults: no cloud account. A dev token is generated
# unless AUTH_TOKEN is set.
run: build deps-browser
	@token="$${AUTH_TOKEN:-$$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')}"; \
	port="$${PORT:-8080}"; \
	echo "Pixashot on http://localhost:$$port  (dev token: $$token)"; \
	echo "Try:  curl -H 'Authorization: Bearer $$token' -H 'Content-Type: application/json' \\"; \
	echo "        -d '{\"url\":\"https://example.com\"}' -o shot.png http://localhost:$$port/capture"; \
	AUTH_TOKEN="$$token" PORT="$$port" exec ./$(BIN)

test: lint-infra
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# The benchmark (not part of test): the service against the engine's floor
# and a playwright-core peer on the same page and Chrome; prints a table.
bench: build deps-browser
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
	rm -rf bin captures $(TOOLS)
