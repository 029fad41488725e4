-- Campaign names compare without case or surrounding spaces. A database that already
-- has two such names (e.g. "trail" and "trail ") cannot get the index: say which, so an operator
-- can rename one (both campaign_name columns) and migrate again.
DO $$
DECLARE clash text;
BEGIN
  SELECT string_agg(format('%L', name), ', ' ORDER BY name) INTO clash
  FROM campaigns
  WHERE lower(btrim(name)) IN (SELECT lower(btrim(name)) FROM campaigns GROUP BY 1 HAVING count(*) > 1);
  IF clash IS NOT NULL THEN
    RAISE EXCEPTION 'campaign names that differ only by case or surrounding spaces: %; rename all but one of each (campaigns.name and its contacts.campaign_name) before this migration', clash;
  END IF;
END $$;
--> statement-breakpoint
CREATE TABLE "idempotency_keys" (
	"key" text PRIMARY KEY NOT NULL,
	"request_hash" text NOT NULL,
	"status" integer,
	"content_type" text,
	"body" text,
	"locked_until" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "idempotency_keys_expires_idx" ON "idempotency_keys" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "campaigns_name_folded_idx" ON "campaigns" USING btree (lower(btrim("name")));