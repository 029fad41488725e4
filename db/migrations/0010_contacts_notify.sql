-- §8: a contact the CRM adds or changes by SQL reaches a running campaign within about a second.
-- Each worker LISTENs on dialer_contacts_changed and signals the named campaign to refill
-- (worker/contact-changes.ts); the periodic refill stays as the safety net.
--
-- The WHEN clause keeps every row a campaign could not take (no campaign, or not at 0 / 2) and
-- every write of the dialer's own workers out of PL/pgSQL altogether: the campaign already knows
-- about its reservations, outcomes and releases, and a signal per attempt would only cost. The
-- function then drops updates that changed none of the four columns (OLD is not allowed in the
-- WHEN of an INSERT OR UPDATE trigger).
--
-- PostgreSQL merges identical notifications within a transaction: a bulk insert costs one per
-- campaign. A name over 7,900 bytes would exceed pg_notify's 8,000-byte payload and fail the
-- CRM's write: it sends an empty payload instead, which the listener reads as "every running
-- campaign". Nothing else in pg_notify can fail here, so no exception block (a subtransaction per
-- row) is needed.
CREATE OR REPLACE FUNCTION dialer_notify_contacts_changed() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'UPDATE'
     AND NEW.campaign_name IS NOT DISTINCT FROM OLD.campaign_name
     AND NEW.contact_successful IS NOT DISTINCT FROM OLD.contact_successful
     AND NEW.redial_time IS NOT DISTINCT FROM OLD.redial_time
     AND NEW.number_of_contacts IS NOT DISTINCT FROM OLD.number_of_contacts THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify(
    'dialer_contacts_changed',
    CASE WHEN octet_length(NEW.campaign_name) > 7900 THEN '' ELSE NEW.campaign_name END
  );
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER contacts_notify_changed
  AFTER INSERT OR UPDATE OF campaign_name, contact_successful, redial_time, number_of_contacts
  ON contacts
  FOR EACH ROW
  WHEN (
    NEW.campaign_name IS NOT NULL
    AND NEW.contact_successful IN (0, 2)
    AND current_setting('application_name', true) IS DISTINCT FROM 'campaign-dialer-worker'
  )
  EXECUTE FUNCTION dialer_notify_contacts_changed();
