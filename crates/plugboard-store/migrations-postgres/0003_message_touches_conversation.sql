-- Adding a message moves its conversation's last activity up to the message's creation
-- (never back: the clock may step back), in the insert's own statement.
CREATE FUNCTION messages_touch_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations SET updated_at_ms = NEW.created_at_ms
    WHERE id = NEW.conversation_id AND updated_at_ms < NEW.created_at_ms;
    RETURN NULL;
END;
$$;

CREATE TRIGGER messages_touch_conversation AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_touch_conversation();
