CREATE TABLE "webhook_callbacks" (
	"call_sid" text NOT NULL,
	"event" text NOT NULL,
	"sequence_number" integer NOT NULL,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webhook_callbacks_call_sid_event_sequence_number_pk" PRIMARY KEY("call_sid","event","sequence_number")
);
--> statement-breakpoint
CREATE INDEX "webhook_callbacks_seen_idx" ON "webhook_callbacks" USING btree ("seen_at");