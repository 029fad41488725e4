ALTER TABLE "campaigns" ADD COLUMN "machine_detection" text DEFAULT 'off' NOT NULL;--> statement-breakpoint
ALTER TABLE "campaigns" ADD COLUMN "machine_message" text;--> statement-breakpoint
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_machine_detection_check" CHECK ("campaigns"."machine_detection" in ('off', 'hangup', 'message'));