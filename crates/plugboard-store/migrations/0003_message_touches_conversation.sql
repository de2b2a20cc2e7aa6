-- Adding a message moves its conversation's last activity up to the message's creation
-- (never back: the clock may step back). As a trigger, the insert and this update are one
-- statement, so adding a message holds SQLite's write lock only while that statement runs,
-- never across a round trip to the caller.
CREATE TRIGGER messages_touch_conversation AFTER INSERT ON messages
BEGIN
    UPDATE conversations SET updated_at_ms = NEW.created_at_ms
    WHERE id = NEW.conversation_id AND updated_at_ms < NEW.created_at_ms;
END;
