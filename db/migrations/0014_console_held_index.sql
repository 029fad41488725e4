-- The operator console reads a campaign's recent delayed and skipped decisions by rule
-- (db/queries/contact-events.ts heldBackCounts): an index over those events only.
CREATE INDEX "contact_events_held_idx" ON "contact_events" USING btree ("campaign_name","at") WHERE "contact_events"."kind" in ('delayed', 'skipped');