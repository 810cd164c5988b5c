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

# --- runtime: Chromium, fonts, an init, and the binary; nothing else ---
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Fonts for Latin, Cyrillic, Greek, CJK and emoji, so pages render as their
# authors meant; tini reaps zombies as PID 1 and forwards SIGTERM.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      chromium-headless-shell \
      ca-certificates \
      fonts-liberation \
      fonts-dejavu-core \
      fonts-noto-core \
      fonts-noto-cjk \
      fonts-noto-color-emoji \
      tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/pixashot --shell /usr/sbin/nologin pixashot

COPY --from=build /out/pixashot /usr/local/bin/pixashot

ENV PORT=8080 \
    CHROME_PATH=/usr/bin/chromium-headless-shell \
    STORAGE_DIR=/home/pixashot/captures \
    HOME=/home/pixashot

USER 10001:10001
WORKDIR /home/pixashot
EXPOSE 8080
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/pixashot"]
