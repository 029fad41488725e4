CREATE TABLE "preview_offers" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "preview_offers_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"campaign_name" text NOT NULL,
	"contact_id" bigint NOT NULL,
	"attempt_no" integer NOT NULL,
	"workflow_id" text NOT NULL,
	"offered_at" timestamp with time zone DEFAULT now() NOT NULL,
	"agent_id" integer,
	"claimed_at" timestamp with time zone,
	"decision" text,
	"decided_at" timestamp with time zone,
	CONSTRAINT "preview_offers_attempt" UNIQUE("campaign_name","contact_id","attempt_no"),
	CONSTRAINT "preview_offers_decision_check" CHECK ("preview_offers"."decision" in ('take', 'skip', 'withdrawn'))
);
--> statement-breakpoint
ALTER TABLE "preview_offers" ADD CONSTRAINT "preview_offers_contact_id_contacts_id_fk" FOREIGN KEY ("contact_id") REFERENCES "public"."contacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "preview_offers" ADD CONSTRAINT "preview_offers_agent_id_agents_id_fk" FOREIGN KEY ("agent_id") REFERENCES "public"."agents"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "preview_offers_open_idx" ON "preview_offers" USING btree ("campaign_name","id") WHERE "preview_offers"."decision" is null;