/* journalban's Cockpit page: the agent on the system bus, and what this user may do.
 *
 * Everything goes through org.jailban (docs/dbus-api.md). Whether the agent
 * runs is asked of the bus (NameHasOwner, NameOwnerChanged): no call is made
 * to org.jailban while nobody owns it, so the page never activates the agent.
 * What the user may do is asked of polkit for the connection that makes the
 * calls, as the agent itself asks it.
 */
"use strict";

window.journalban = window.journalban || {};

(function (jb) {
    const NAME = "org.jailban";
    const PATH = "/org/jailban";
    const MANAGER = "org.jailban.Manager1";
    const JAIL = "org.jailban.Jail1";
    const ACTIONS = ["org.jailban.ban", "org.jailban.unban", "org.jailban.manage"];

    jb.NAME = NAME;
    jb.PATH = PATH;
    jb.MANAGER = MANAGER;
    jb.JAIL = JAIL;

    /* Microseconds since the epoch as local time; 0 is "never" (a permanent ban). */
    jb.formatTime = function (usec) {
        if (!usec) return "permanent";
        return new Date(usec / 1000).toLocaleString();
    };

    jb.element = function (tag, text, cls) {
        const el = document.createElement(tag);
        if (text !== undefined && text !== null) el.textContent = String(text); // never innerHTML: addresses and lines come from attackers
        if (cls) el.className = cls;
        return el;
    };

    jb.errorText = function (err) {
        if (!err) return "failed";
        return (err.name ? err.name.replace("org.jailban.Error.", "") + ": " : "") + (err.message || String(err));
    };

    /* The bus daemon itself: presence of the agent without activating it. */
    const busDaemon = cockpit.dbus("org.freedesktop.DBus", { bus: "system" });

    jb.agentPresent = function () {
        return busDaemon.call("/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner", [NAME])
                .then(reply => reply[0]);
    };

    jb.watchPresence = function (callback) {
        busDaemon.subscribe(
            { interface: "org.freedesktop.DBus", member: "NameOwnerChanged", path: "/org/freedesktop/DBus" },
            (_path, _iface, _signal, args) => {
                if (args[0] === NAME) callback(args[2] !== "");
            });
    };

    jb.startAgent = function () {
        const systemd = cockpit.dbus("org.freedesktop.systemd1", { bus: "system", superuser: "try" });
        return systemd.call("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartUnit",
                            ["journalban.service", "replace"])
                .finally(() => systemd.close());
    };

    /* What to say when StartUnit fails: systemd asks polkit (org.freedesktop.systemd1.manage-units)
     * and answers AccessDenied (or InteractiveAuthorizationRequired) when polkit says no. */
    const REFUSED = ["org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"];

    jb.startRefusal = function (err) {
        const detail = "systemd could not start journalban.service: " + jb.errorText(err);
        if (!err || !REFUSED.includes(err.name)) return Promise.resolve(detail);
        return cockpit.user().then(user =>
            "Not allowed: polkit does not allow " + (user.name || "this user") + " (uid " + user.id +
            ") to start journalban.service (org.freedesktop.systemd1.manage-units). " +
            "Turn on administrative access, or ask an administrator. (" + detail + ")",
        () => detail);
    };

    /* The client for org.jailban; made only once the name has an owner. */
    jb.client = null;

    jb.connect = function () {
        if (!jb.client) {
            jb.client = cockpit.dbus(NAME, { bus: "system", superuser: "try" });
            jb.client.addEventListener("close", () => { jb.client = null });
        }
        return jb.client;
    };

    /* In-argument signatures, so no call waits for introspection. */
    const SIGNATURES = {
        Ban: "ssta{sv}", Unban: "ss", UnbanAll: "s", GetBans: "suu", GetStatus: "", ListJails: "",
        Reload: "", GetBanDetails: "ss", TestLine: "ss", GetAll: "s", ListRecentFailures: "s",
    };

    jb.call = function (method, args, path, iface) {
        const options = method in SIGNATURES ? { type: SIGNATURES[method] } : {};
        return jb.connect().call(path || PATH, iface || MANAGER, method, args || [], options);
    };

    /* {allowed: {action: bool}, reason: text} for the connection the calls go out on. */
    jb.permissions = function () {
        const client = jb.connect();
        return client.wait().then(() => {
            const subject = ["system-bus-name", { name: cockpit.variant("s", client.unique_name || "") }];
            const polkit = cockpit.dbus("org.freedesktop.PolicyKit1", { bus: "system", superuser: "try" });
            const checks = ACTIONS.map(action => polkit.call(
                "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                "CheckAuthorization", [subject, action, {}, 0, ""])
                    .then(reply => [action, reply[0][0]])
                    .catch(() => [action, false]));
            return Promise.all([Promise.all(checks), cockpit.user()]).then(([results, user]) => {
                polkit.close();
                const allowed = {};
                results.forEach(([action, ok]) => { allowed[action] = ok });
                const refused = ACTIONS.filter(a => !allowed[a]);
                let reason = "";
                if (refused.length) {
                    reason = "Read only: polkit does not allow " + refused.join(", ") + " to " +
                        (user.name || "this user") + " (uid " + user.id + ") without authentication." +
                        " Turn on administrative access, or ask an administrator.";
                }
                return { allowed, reason };
            });
        });
    };
}(window.journalban));
