# Switchboard — developer and CI entry points. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help
.PHONY: help deps proto proto-check lint lint-proto lint-code format format-check links docs check typecheck build-checked build k8s k8s-check bench test test-unit test-integration test-cluster testenv-provision testenv testenv-cluster start clean

# Options of proto-loader-gen-types; they must match LOADER_OPTIONS in services/shared/proto.ts.
GEN_OPTS := --grpcLib=@grpc/grpc-js --longs=Number --enums=String --defaults --oneofs --importFileExtension=.js
PROTO_FILES := switchboard/v1/message_service.proto
# buf runs as a pinned tool through npx (cached in ~/.npm) rather than a devDependency: the
# registry serves its Linux binary only, and a lockfile without the other platforms breaks npm ci.
BUF := npx --yes @bufbuild/buf@1.75.0

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

deps: node_modules/.deps-stamp ## install npm dependencies (npm ci; cached in ~/.npm)
node_modules/.deps-stamp: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

proto: deps ## regenerate the TypeScript types of proto/ into services/shared/gen and gen-es (committed)
	rm -rf services/shared/gen services/shared/gen-es
	npx proto-loader-gen-types $(GEN_OPTS) -I proto -O services/shared/gen $(PROTO_FILES)
	$(BUF) generate --template proto/buf.gen.yaml

proto-check: deps ## fail when services/shared/gen is stale
	@tmp=$$(mktemp -d) && npx proto-loader-gen-types $(GEN_OPTS) -I proto -O $$tmp/gen $(PROTO_FILES) && \
	  $(BUF) generate --template proto/buf.gen.yaml -o $$tmp && \
	  diff -r $$tmp/gen services/shared/gen && diff -r $$tmp/services/shared/gen-es services/shared/gen-es && rm -rf $$tmp && echo "generated code is up to date"

lint: lint-proto lint-code format-check links ## every linter: buf (proto/), eslint, prettier, Markdown links

lint-proto: deps ## buf lint of proto/
	cd proto && $(BUF) lint

lint-code: deps ## eslint: typescript-eslint's strict, type-checked rules (eslint.config.js)
	npx eslint --cache --cache-location node_modules/.cache/eslint/ .

format-check: deps ## prettier --check (make format rewrites)
	npx prettier --check --log-level warn .

format: deps ## rewrite the code as prettier formats it
	npx prettier --write --log-level warn .

links: deps ## every relative link and anchor in every Markdown file resolves (offline)
	npx remark --quiet --frail --no-stdout .

docs: deps ## regenerate docs/CONFIGURATION.md from the services' configuration schemas, docs/sdk/ from the client SDK (TypeDoc)
	npx tsx services/config-docs.ts > docs/CONFIGURATION.md
	npx typedoc --options services/client/sdk/typedoc.json --logLevel Error

check: lint typecheck ## the quick tier (about 40 s warm): linters, typecheck, unit tests
	npx mocha 'test/unit/**/*.test.ts'

typecheck: deps ## tsc --noEmit (strict), the services and the browser page
	npx tsc --noEmit -p tsconfig.json
	npx tsc -p services/client/web/tsconfig.json

build-checked: deps ## what make test runs: tsc (strict) once, compiling dist/ as npm run build does, and the browser page's check
	npm run build
	npx tsc -p services/client/web/tsconfig.json

k8s: deps ## synthesize k8s/ from the cdk8s app (commit the result)
	npx tsx cdk8s/main.ts

k8s-check: deps ## fail when k8s/ differs from what cdk8s synthesizes
	@tmp=$$(mktemp -d) && cp -r k8s $$tmp/committed && npx tsx cdk8s/main.ts && \
	  if diff -r $$tmp/committed k8s; then rm -rf $$tmp; echo "k8s/ is up to date"; \
	  else rm -rf k8s && mv $$tmp/committed k8s && echo "k8s/ is stale: run make k8s and commit" && exit 1; fi

build: deps ## compile to dist/ (what the container image runs; same as npm run build)
	npm run build

test: ## everything CI runs: deps, lint, generated-code check, typecheck, all mocha suites; last line "N passed, N failed"
	@bash test/run-all.sh

test-unit: deps ## unit tests only
	npx mocha 'test/unit/**/*.test.ts'

test-integration: deps testenv-provision ## integration, contract and end-to-end suites (real servers on loopback)
	npx mocha 'test/integration/**/*.test.ts' 'test/contract/**/*.test.ts' 'test/e2e/**/*.test.ts'

testenv-provision: ## install Kafka 3.9 jars, FerretDB, redis-server, the Kubernetes binaries, CoreDNS, Prometheus, Chromium (cached in ~/.cache/switchboard)
	bash test/env/provision.sh

testenv: deps testenv-provision ## provision and run Kafka, FerretDB and Redis on free ports until Ctrl-C
	npx tsx test/env/main.ts

testenv-cluster: deps testenv-provision ## provision and run the single-node test cluster (needs root) until Ctrl-C
	npx tsx test/env/cluster-main.ts

test-cluster: deps testenv-provision ## the operator's path on the test cluster: helm install, port-forward, scaling, kills, rollouts, Prometheus
	npx mocha 'test/cluster/**/*.test.ts'

bench: deps testenv-provision ## the short benchmark suite (about 20 min here); report in bench/results/<time>/
	npx tsx bench/main.ts all

start: deps ## run the whole system on embedded backends (same as npm start)
	npm start

clean: ## remove build output
	rm -rf dist
