//! Permissions and the ABI: each one opens a host interface the plugin world imports.

use plugboard_manifest::Permission;

#[test]
fn each_permission_opens_a_host_interface_of_the_plugin_world() {
    let world = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/v0.1.0/world.wit");
    let world = std::fs::read_to_string(&world).unwrap();
    let imports: Vec<&str> =
        world.lines().filter_map(|line| line.trim().strip_prefix("import ")?.strip_suffix(';')).collect();
    for permission in Permission::ALL {
        let interface = permission.host_interface();
        assert!(imports.contains(&interface), "{permission} opens `{interface}`, not among {imports:?}");
    }
    let chat: Vec<Permission> =
        Permission::ALL.into_iter().filter(|permission| permission.host_interface() == "chat").collect();
    assert_eq!(chat.len(), 7, "the messages, channels, users and files permissions: {chat:?}");
    assert_eq!(Permission::Network.host_interface(), "http-client");
}
