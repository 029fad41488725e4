ALTER TABLE "agents" ADD COLUMN "campaign_name" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "current_call_sid" text;--> statement-breakpoint
ALTER TABLE "agents" ADD COLUMN "wrap_up_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "transfer_timeout_seconds" integer DEFAULT 20 NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "wrap_up_seconds" integer DEFAULT 10 NOT NULL;--> statement-breakpoint
CREATE INDEX "agents_campaign_idx" ON "agents" USING btree ("campaign_name","status");