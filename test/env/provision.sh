#!/usr/bin/env bash
# Installs the real backends the tests run against, idempotently, caching everything outside the
# clone (SWITCHBOARD_CACHE, default ~/.cache/switchboard):
#   Kafka 3.9 — Apache Kafka's own jars from Maven Central (one KRaft broker+controller)
#   FerretDB 1.24 — MongoDB wire protocol on SQLite (or on Debian's PostgreSQL), built with Go from the module proxy
#   Redis — Debian's redis-server
#   Kubernetes control plane (for the chart, manifests and readiness gate; the envtest approach) —
#     kube-apiserver and kubectl built from the k8s.io/kubernetes module with its staging modules
#     pinned (Debian's kubectl is 1.20, too old for the API server), Debian's etcd-server, and helm
#     built from its module
#   grpcurl — built from its module (the reflection and health tests call the product with it); openssl
#     — Debian's (the test certificates of the gateway's TLS)
# Usage: test/env/provision.sh [redis|kafka|ferretdb|kube|helm|cluster|browser|tools]…   (no argument: all)
set -euo pipefail

CACHE=${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}
KAFKA_VERSION=${KAFKA_VERSION:-3.9.2}
FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.0}
KUBE_VERSION=${KUBE_VERSION:-v1.32.3}
HELM_VERSION=${HELM_VERSION:-v3.17.3}
COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
# Prometheus 3.16.0 (its Go module is versioned v0.316.0).
PROMETHEUS_MODULE_VERSION=${PROMETHEUS_MODULE_VERSION:-v0.316.0}
GRPCURL_VERSION=${GRPCURL_VERSION:-v1.9.3}
mkdir -p "$CACHE/bin" "$CACHE/logs"

say() { printf '[provision] %s\n' "$*"; }

provision_redis() {
  if command -v redis-server >/dev/null 2>&1; then say "redis: $(redis-server --version | cut -d' ' -f3) already installed"; return; fi
  say "redis: apt-get install redis-server (log: $CACHE/logs/apt.log)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$CACHE/logs/apt.log" 2>&1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server >>"$CACHE/logs/apt.log" 2>&1 \
    || { say "redis: apt-get failed; see $CACHE/logs/apt.log"; tail -n 20 "$CACHE/logs/apt.log"; exit 1; }
  # The package starts a system service on 6379; the tests run their own servers on free ports.
  ( systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true )
  say "redis: installed $(redis-server --version | cut -d' ' -f3)"
}

provision_kafka() {
  local dir="$CACHE/kafka/$KAFKA_VERSION"
  if [ -f "$dir/.complete" ]; then say "kafka: $KAFKA_VERSION jars cached in $dir/libs"; return; fi
  command -v mvn >/dev/null || { say "kafka: mvn is required (Maven)"; exit 1; }
  command -v java >/dev/null || { say "kafka: java is required (JDK 17)"; exit 1; }
  mkdir -p "$dir"
  cat >"$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.switchboard.testenv</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  say "kafka: downloading kafka_2.13:$KAFKA_VERSION and its runtime dependencies from Maven Central (log: $CACHE/logs/maven.log)"
  rm -rf "$dir/libs"
  if ! mvn -B -ntp -f "$dir/pom.xml" dependency:copy-dependencies -DoutputDirectory="$dir/libs" -DincludeScope=runtime >"$CACHE/logs/maven.log" 2>&1; then
    say "kafka: maven failed; see $CACHE/logs/maven.log"; tail -n 30 "$CACHE/logs/maven.log"; exit 1
  fi
  touch "$dir/.complete"
  say "kafka: $(ls "$dir/libs" | wc -l) jars in $dir/libs"
}

provision_ferretdb() {
  local bin="$CACHE/bin/ferretdb-$FERRETDB_VERSION"
  apt_install postgresql # FerretDB's other storage (SWITCHBOARD_FERRETDB_STORAGE=postgresql, the benchmark)
  if [ -x "$bin" ]; then say "ferretdb: $FERRETDB_VERSION built at $bin"; return; fi
  command -v go >/dev/null || { say "ferretdb: go is required"; exit 1; }
  local mod="github.com/FerretDB/FerretDB@$FERRETDB_VERSION"
  say "ferretdb: downloading $mod (log: $CACHE/logs/ferretdb-build.log)"
  local src modcache
  modcache=$(go env GOMODCACHE)
  ( cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$mod" ) >"$CACHE/logs/ferretdb-build.log" 2>&1 \
    || { say "ferretdb: download failed"; tail -n 20 "$CACHE/logs/ferretdb-build.log"; exit 1; }
  # Build from a writable copy: the module zip lacks build/version/version.txt, which the
  # release process generates and the binary requires.
  src="$CACHE/src/ferretdb-$FERRETDB_VERSION"
  rm -rf "$src" && mkdir -p "$(dirname "$src")"
  cp -r "$modcache/github.com/!ferret!d!b/!ferret!d!b@$FERRETDB_VERSION" "$src"
  chmod -R u+w "$src"
  echo "$FERRETDB_VERSION" >"$src/build/version/version.txt"
  say "ferretdb: go build ./cmd/ferretdb (a few minutes on a cold Go cache)"
  ( cd "$src" && go build -o "$bin.tmp" ./cmd/ferretdb ) >>"$CACHE/logs/ferretdb-build.log" 2>&1 \
    || { say "ferretdb: build failed"; tail -n 20 "$CACHE/logs/ferretdb-build.log"; exit 1; }
  mv "$bin.tmp" "$bin"
  say "ferretdb: built $("$bin" --version | head -n 1)"
}

apt_install() { # apt_install PACKAGE… — installs Debian packages that are missing
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  say "apt-get install ${missing[*]} (log: $CACHE/logs/apt.log)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$CACHE/logs/apt.log" 2>&1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$CACHE/logs/apt.log" 2>&1 \
    || { say "apt-get failed; see $CACHE/logs/apt.log"; tail -n 20 "$CACHE/logs/apt.log"; exit 1; }
}

# Builds Go commands of one module version in a throw-away module of our own (go install pkg@v
# asks the proxy for the module's version list, which this registry refuses). Extra go.mod lines
# (replace directives) come on stdin.
go_build() { # go_build NAME MODULE VERSION PACKAGE… — binaries $CACHE/bin/<last path element>-VERSION
  local name=$1 module=$2 version=$3; shift 3
  local dir="$CACHE/src/$name-$version-build" missing=() p
  for p in "$@"; do [ -x "$CACHE/bin/${p##*/}-$version" ] || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then say "$name: $version built in $CACHE/bin"; cat >/dev/null; return; fi
  command -v go >/dev/null || { say "$name: go is required"; exit 1; }
  rm -rf "$dir" && mkdir -p "$dir"
  { printf 'module switchboard.dev/build/%s\n\ngo 1.23\n\nrequire %s %s\n' "$name" "$module" "$version"; cat; } >"$dir/go.mod"
  { printf 'package tools\n\nimport (\n'; for p in "$@"; do printf '\t_ "%s"\n' "$p"; done; printf ')\n'; } >"$dir/tools.go"
  : >"$CACHE/logs/$name-build.log"
  for p in "${missing[@]}"; do
    # -mod=mod resolves what the build needs only (tidy would also want test-only modules that
    # the proxy may not serve).
    say "$name: go build $p (several minutes on a cold Go cache; log: $CACHE/logs/$name-build.log)"
    ( cd "$dir" && GOFLAGS=-mod=mod go build ${GO_TAGS:+-tags=$GO_TAGS} -o "$CACHE/bin/${p##*/}-$version.tmp" "$p" ) >>"$CACHE/logs/$name-build.log" 2>&1 \
      || { say "$name: build of $p failed"; tail -n 20 "$CACHE/logs/$name-build.log"; exit 1; }
    mv "$CACHE/bin/${p##*/}-$version.tmp" "$CACHE/bin/${p##*/}-$version"
  done
  say "$name: built $(printf '%s ' "${missing[@]##*/}")in $CACHE/bin"
}

provision_kube() {
  apt_install etcd-server
  # The staging modules (k8s.io/api, client-go, …) are replaced by ./staging paths inside
  # k8s.io/kubernetes; as a dependency they must be pinned to the matching v0.x.y releases.
  local minor=${KUBE_VERSION#v1.}
  local mod
  mod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$mod" ] || { say "kube-apiserver: cannot download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 v0.'"$minor"'#p' "$mod" |
    go_build kubernetes k8s.io/kubernetes "$KUBE_VERSION" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
}

# The pieces of a real single-node cluster besides the control plane: containerd + runc + CNI
# plugins from Debian; kubelet, kube-controller-manager, kube-scheduler and kube-proxy from the
# same k8s.io/kubernetes module as kube-apiserver; CoreDNS as cluster DNS; Prometheus and promtool
# (Kubernetes and DNS service discovery only: the proxy refuses one of its other SD modules).
provision_cluster() {
  # debootstrap and buildah build the images (test/env/images.ts), gcc with libc6-dev their static pause binary
  apt_install containerd runc containernetworking-plugins iptables conntrack debootstrap buildah gcc libc6-dev
  local minor=${KUBE_VERSION#v1.}
  local mod
  mod=$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # The checksum database does not answer for some staging modules (k8s.io/endpointslice, …).
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 v0.'"$minor"'#p' "$mod" |
    GONOSUMDB='k8s.io/*' go_build kubernetes k8s.io/kubernetes "$KUBE_VERSION" k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy
  go_build coredns github.com/coredns/coredns "$COREDNS_VERSION" github.com/coredns/coredns </dev/null
  GO_TAGS=remove_all_sd,enable_kubernetes_sd,enable_dns_sd go_build prometheus github.com/prometheus/prometheus "$PROMETHEUS_MODULE_VERSION" \
    github.com/prometheus/prometheus/cmd/prometheus github.com/prometheus/prometheus/cmd/promtool </dev/null
}

# A real browser for the chat page's tests: Debian's Chromium (puppeteer-core drives it and
# downloads nothing), and NSS's certutil, which puts a test CA in a browser's own trust store.
provision_browser() {
  apt_install chromium libnss3-tools
}

provision_helm() {
  go_build helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm </dev/null
}

# The field's own clients, which the tests point at the product: grpcurl (reflection, health).
provision_tools() {
  go_build grpcurl github.com/fullstorydev/grpcurl "$GRPCURL_VERSION" github.com/fullstorydev/grpcurl/cmd/grpcurl </dev/null
  # openssl makes the test certificates (the gateway's TLS).
  if command -v openssl >/dev/null 2>&1; then say "openssl: $(openssl version | cut -d' ' -f2) already installed"; return; fi
  say "openssl: apt-get install openssl (log: $CACHE/logs/apt.log)"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$CACHE/logs/apt.log" 2>&1
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >>"$CACHE/logs/apt.log" 2>&1 \
    || { say "openssl: apt-get failed; see $CACHE/logs/apt.log"; tail -n 20 "$CACHE/logs/apt.log"; exit 1; }
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(redis kafka ferretdb kube helm browser cluster tools)
for t in "${targets[@]}"; do
  case "$t" in
    redis) provision_redis ;;
    kafka) provision_kafka ;;
    ferretdb) provision_ferretdb ;;
    kube) provision_kube ;;
    helm) provision_helm ;;
    cluster) provision_cluster ;;
    browser) provision_browser ;;
    tools) provision_tools ;;
    *) say "unknown target $t (redis, kafka, ferretdb, kube, helm, cluster, browser, tools)"; exit 2 ;;
  esac
done
