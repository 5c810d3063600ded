# The seed's targets (run, down, down-prune-db, logs, scale-agents) plus dev, test, lint, bench.
.PHONY: run down down-prune-db logs scale-agents dev test lint bench env

# Compose v2 (`docker compose`) when present, else the standalone v1 `docker-compose`.
# Recursively expanded: looked up only by the targets that use it.
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo 'docker compose' || echo docker-compose)

# 32 random bytes as hex: openssl, or node where openssl is missing.
RANDOM_TOKEN = $$(openssl rand -hex 32 2>/dev/null || node -e "process.stdout.write(require('crypto').randomBytes(32).toString('hex'))")

SCALE_USAGE = usage: make scale-agents num=N   (N: how many task-exec-agent containers, a whole number, e.g. num=3)

# Checked while the Makefile is read, so `make -n scale-agents` refuses a bad num too.
ifneq ($(filter scale-agents,$(MAKECMDGOALS)),)
  ifneq ($(words $(num)),1)
    $(error $(SCALE_USAGE))
  endif
  ifneq ($(subst 0,,$(subst 1,,$(subst 2,,$(subst 3,,$(subst 4,,$(subst 5,,$(subst 6,,$(subst 7,,$(subst 8,,$(subst 9,,$(num))))))))))),)
    $(error $(SCALE_USAGE); got num=$(num))
  endif
endif

# Write API_TOKEN and AGENT_TOKEN into the git-ignored .env unless already there; compose reads it.
env:
	@touch .env && chmod 600 .env
	@grep -q '^API_TOKEN=.' .env || { echo "API_TOKEN=$(RANDOM_TOKEN)" >> .env && echo 'wrote a new API_TOKEN to .env'; }
	@grep -q '^AGENT_TOKEN=.' .env || { echo "AGENT_TOKEN=$(RANDOM_TOKEN)" >> .env && echo 'wrote a new AGENT_TOKEN to .env'; }

# Build images and run all services in detached mode.
run: env
	$(COMPOSE) up -d --build

# Stop all running containers.
down:
	$(COMPOSE) down

# Stop all containers and remove persistent database data.
down-prune-db:
	$(COMPOSE) down -v

# Follow logs from all services.
logs:
	$(COMPOSE) logs -f

# Scale the task-exec-agent service.
# Usage: make scale-agents num=3
scale-agents: env
	@echo "Scaling task-exec-agent to $(num) instance(s)..."
	$(COMPOSE) up -d --scale task-exec-agent=$(num)

# The API and local agents on embedded PostgreSQL, no Docker.
dev:
	npm start

test:
	npm test

lint:
	npm run lint

bench:
	npm run bench
