CREATE TABLE "agents" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "agents_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"endpoint" text NOT NULL,
	"name" text,
	"status" text DEFAULT 'offline' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "agents_endpoint_unique" UNIQUE("endpoint"),
	CONSTRAINT "agents_status_check" CHECK ("agents"."status" in ('available', 'on-call', 'wrap-up', 'offline'))
);
--> statement-breakpoint
CREATE TABLE "banned_numbers" (
	"phone_number" text PRIMARY KEY NOT NULL,
	"reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "call_attempts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "call_attempts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"campaign_name" text NOT NULL,
	"contact_id" bigint NOT NULL,
	"attempt_no" integer NOT NULL,
	"workflow_id" text NOT NULL,
	"phone_number" text NOT NULL,
	"call_sid" text,
	"placed" boolean DEFAULT false NOT NULL,
	"due_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"create_requested_at" timestamp with time zone,
	"placed_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"recorded_at" timestamp with time zone,
	"last_state" integer,
	"facts" jsonb,
	CONSTRAINT "call_attempts_call_sid_unique" UNIQUE("call_sid"),
	CONSTRAINT "call_attempts_key" UNIQUE("campaign_name","contact_id","attempt_no")
);
--> statement-breakpoint
CREATE TABLE "campaigns" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "campaigns_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"max_attempts" integer DEFAULT 3 NOT NULL,
	"lines" integer DEFAULT 5 NOT NULL,
	"calls_per_second" real DEFAULT 1 NOT NULL,
	"caller_id" text NOT NULL,
	"ring_timeout_seconds" integer DEFAULT 30 NOT NULL,
	"retry_rules" jsonb NOT NULL,
	"message" text DEFAULT 'Hello. This is a call from our contact center. We will call you back. Goodbye.' NOT NULL,
	"status" text DEFAULT 'idle' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "campaigns_name_unique" UNIQUE("name"),
	CONSTRAINT "campaigns_max_attempts_check" CHECK ("campaigns"."max_attempts" >= 1),
	CONSTRAINT "campaigns_lines_check" CHECK ("campaigns"."lines" >= 1),
	CONSTRAINT "campaigns_cps_check" CHECK ("campaigns"."calls_per_second" > 0),
	CONSTRAINT "campaigns_ring_timeout_check" CHECK ("campaigns"."ring_timeout_seconds" between 15 and 600),
	CONSTRAINT "campaigns_status_check" CHECK ("campaigns"."status" in ('idle', 'running', 'paused', 'stopping', 'stopped', 'completed'))
);
--> statement-breakpoint
CREATE TABLE "contacts" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "contacts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"campaign_name" text,
	"contact_successful" smallint DEFAULT 0 NOT NULL,
	"last_state" integer,
	"redial_time" timestamp with time zone,
	"number_of_contacts" integer DEFAULT 0 NOT NULL,
	"phone_number" text,
	"name" text,
	"time_zone" text,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"cached_from" smallint,
	"cached_by" text,
	"cache_reservation" text,
	"cached_at" timestamp with time zone,
	CONSTRAINT "contacts_contact_successful_check" CHECK ("contacts"."contact_successful" between -1 and 3),
	CONSTRAINT "contacts_number_of_contacts_check" CHECK ("contacts"."number_of_contacts" >= 0)
);
--> statement-breakpoint
ALTER TABLE "call_attempts" ADD CONSTRAINT "call_attempts_contact_id_contacts_id_fk" FOREIGN KEY ("contact_id") REFERENCES "public"."contacts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "call_attempts_contact_idx" ON "call_attempts" USING btree ("contact_id");--> statement-breakpoint
CREATE INDEX "contacts_selection_idx" ON "contacts" USING btree ("campaign_name","redial_time","id") WHERE "contacts"."contact_successful" in (0, 2);--> statement-breakpoint
CREATE INDEX "contacts_cache_idx" ON "contacts" USING btree ("cached_by") WHERE "contacts"."contact_successful" = 3;--> statement-breakpoint
CREATE INDEX "contacts_reservation_idx" ON "contacts" USING btree ("cache_reservation");