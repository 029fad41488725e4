-- CRMs update contact rows with plain SQL; keep updated_at true without asking them to.
CREATE OR REPLACE FUNCTION dialer_touch_updated_at() RETURNS trigger AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
--> statement-breakpoint
CREATE TRIGGER contacts_touch_updated_at BEFORE UPDATE ON contacts
  FOR EACH ROW EXECUTE FUNCTION dialer_touch_updated_at();
--> statement-breakpoint
CREATE TRIGGER campaigns_touch_updated_at BEFORE UPDATE ON campaigns
  FOR EACH ROW EXECUTE FUNCTION dialer_touch_updated_at();
