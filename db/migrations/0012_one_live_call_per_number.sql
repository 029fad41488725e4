ALTER TABLE "call_attempts" ADD COLUMN "live_number" text;--> statement-breakpoint
ALTER TABLE "call_attempts" ADD COLUMN "live_until" timestamp with time zone;--> statement-breakpoint
CREATE UNIQUE INDEX "call_attempts_live_number_idx" ON "call_attempts" USING btree ("live_number") WHERE "call_attempts"."live_number" is not null;--> statement-breakpoint
-- Attempts that may still be in a call when this runs hold their number (the newest per number),
-- for the default call timeout (10 min) and a margin, as the placing step would have set it.
UPDATE "call_attempts" SET "live_number" = "phone_number", "live_until" = "create_requested_at" + interval '15 minutes'
WHERE "id" IN (
  SELECT DISTINCT ON ("phone_number") "id" FROM "call_attempts"
  WHERE "create_requested_at" > now() - interval '15 minutes' AND "recorded_at" IS NULL AND "phone_number" LIKE '+%'
  ORDER BY "phone_number", "create_requested_at" DESC
);
