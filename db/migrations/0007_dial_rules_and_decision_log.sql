CREATE TABLE "contact_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "contact_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"at" timestamp with time zone DEFAULT now() NOT NULL,
	"contact_id" bigint NOT NULL,
	"campaign_name" text,
	"attempt_no" integer,
	"kind" text NOT NULL,
	"reason" text NOT NULL,
	"until" timestamp with time zone,
	"details" jsonb
);
--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "calling_window" text DEFAULT 'daily 08:00-21:00' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "time_zone" text;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "max_attempts_per_day" integer;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "max_attempts_per_24h" integer;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "min_attempt_gap_seconds" integer;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "abandon_cooloff" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "contact_events" ADD CONSTRAINT "contact_events_contact_id_contacts_id_fk" FOREIGN KEY ("contact_id") REFERENCES "public"."contacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "contact_events_contact_idx" ON "contact_events" USING btree ("contact_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "contact_events_once_idx" ON "contact_events" USING btree ("campaign_name","contact_id","attempt_no","kind") WHERE "contact_events"."kind" in ('dialed', 'outcome');--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_max_per_day_check" CHECK ("campaigns"."max_attempts_per_day" >= 1);--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_max_per_24h_check" CHECK ("campaigns"."max_attempts_per_24h" >= 1);--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_min_gap_check" CHECK ("campaigns"."min_attempt_gap_seconds" >= 0);