ALTER TABLE "campaigns" ADD COLUMN "dialing_mode" text DEFAULT 'progressive' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "calls_per_agent" real DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "abandon_target" real DEFAULT 0.03 NOT NULL;--> statement-breakpoint
CREATE INDEX "call_attempts_campaign_ended_idx" ON "call_attempts" USING btree ("campaign_name","ended_at");--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_dialing_mode_check" CHECK ("campaigns"."dialing_mode" in ('agentless', 'preview', 'progressive', 'power', 'predictive'));--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_calls_per_agent_check" CHECK ("campaigns"."calls_per_agent" >= 1 and "campaigns"."calls_per_agent" <= 10);--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_abandon_target_check" CHECK ("campaigns"."abandon_target" > 0 and "campaigns"."abandon_target" < 1);