# syntax=docker/dockerfile:1
# Pixashot: a static Go binary beside Debian's headless Chromium.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=trixie

# --- build: a static binary, no cgo, no local paths in it ---
FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY function ./function
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/pixashot ./function/cmd/pixashot

# --- assets: DuckDuckGo's autoconsent from the committed npm lock file ---
FROM node:22-${DEBIAN_RELEASE}-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime: Chromium, fonts, the filter lists, an init, and the binary ---
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Fonts for Latin, Cyrillic, Greek, CJK and emoji, so pages render as their
# authors meant; EasyList, EasyPrivacy and URLhaus as Debian ships them with
# uBlock Origin (block_ads, block_trackers); tini reaps zombies as PID 1 and
# forwards SIGTERM.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium-headless-shell \
      ca-certificates \
      fonts-liberation \
      fonts-dejavu-core \
      fonts-noto-core \
      fonts-noto-cjk \
      fonts-noto-color-emoji \
      webext-ublock-origin-chromium \
      tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/pixashot --shell /usr/sbin/nologin pixashot

COPY --from=build /out/pixashot /usr/local/bin/pixashot
# autoconsent's content script and rules (block_cookie_banners), with its
# MPL-2.0 licence.
COPY --from=assets /src/node_modules/@duckduckgo/autoconsent/dist/autoconsent.playwright.js /usr/share/pixashot/autoconsent/dist/
COPY --from=assets /src/node_modules/@duckduckgo/autoconsent/rules/compact-rules.json /usr/share/pixashot/autoconsent/rules/
COPY --from=assets /src/node_modules/@duckduckgo/autoconsent/LICENSE /usr/share/pixashot/autoconsent/

# STORAGE_DIR is under /tmp, the one writable place when the root file
# system is read-only (Cloud Run's is in memory either way).
ENV PORT=8080 \
    CHROME_PATH=/usr/bin/chromium-headless-shell \
    STORAGE_DIR=/tmp/pixashot \
    AUTOCONSENT_DIR=/usr/share/pixashot/autoconsent \
    HOME=/home/pixashot

USER 10001:10001
WORKDIR /home/pixashot
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/pixashot"]
