-- Lotse schema: the visitor card a visitor scanned at the kiosk (the case system's
-- opaque card id). Personal data: deleted by the retention purge like appointment_ref.
ALTER TABLE tickets ADD COLUMN visitor_card TEXT;
