# The seed's targets (run, down, down-prune-db, logs, scale-agents) plus dev, test, lint, bench.
.PHONY: run down down-prune-db logs scale-agents dev test lint bench env smoke

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

# Write API_TOKEN, AGENT_TOKEN and DB_PASSWORD into the git-ignored .env unless already there;
# compose reads it. Every compose target needs it: the compose file has no default password.
# The database takes DB_PASSWORD only when its volume is created, so an older deployment whose
# volume was made with the former default keeps that password (the message says what to do).
env:
	@touch .env && chmod 600 .env
	@grep -q '^API_TOKEN=.' .env || { echo "API_TOKEN=$(RANDOM_TOKEN)" >> .env && echo 'wrote a new API_TOKEN to .env'; }
	@grep -q '^AGENT_TOKEN=.' .env || { echo "AGENT_TOKEN=$(RANDOM_TOKEN)" >> .env && echo 'wrote a new AGENT_TOKEN to .env'; }
	@grep -q '^DB_PASSWORD=.' .env || { echo "DB_PASSWORD=$(RANDOM_TOKEN)" >> .env && echo 'wrote a new DB_PASSWORD to .env (a db-data volume created before keeps its old password: put that in .env, or make down-prune-db)'; }

# Build images and run all services in detached mode.
run: env
	$(COMPOSE) up -d --build

# Stop all running containers.
down: env
	$(COMPOSE) down

# Stop all containers and remove persistent database data.
down-prune-db: env
	$(COMPOSE) down -v

# Follow logs from all services.
logs: env
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

# The compose deployment run for real (needs a Docker engine; skipped, saying why, without one).
smoke:
	npm run test:compose
