# The dialer's image: one image, the role is the command (worker, server, simulator, db migrate).
# Stage 1 installs the locked dependencies; stage 2 carries only what runs, as the non-root user.
FROM node:20.20.2-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# postinstall patches the postgres driver (see the script)
COPY scripts/patch-postgres.cjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.20.2-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json package-lock.json tsconfig.json ./
COPY --chown=node:node activities ./activities
COPY --chown=node:node client ./client
COPY --chown=node:node db ./db
COPY --chown=node:node domain ./domain
COPY --chown=node:node infra ./infra
COPY --chown=node:node ops ./ops
COPY --chown=node:node server ./server
COPY --chown=node:node simulator ./simulator
COPY --chown=node:node worker ./worker
COPY --chown=node:node workflows ./workflows
USER node
EXPOSE 3000 3100 9464
ENTRYPOINT ["node", "--import", "tsx", "client/main.ts"]
CMD ["worker"]
