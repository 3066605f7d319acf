/* The live list of active bans: pages from GetBans, kept current by signals.
 *
 * A page of PAGE bans is read with GetBans (newest first). Banned, BannedMany (a
 * flood's step: each of its bans as a Banned) and Unbanned change the page at once; when the Generation property moves past the
 * generation the page was read at plus the signals applied since, a signal
 * was missed (or a reload happened) and the page is read again. Nothing polls.
 *
 * The filter box and the column headers ask the agent (FindBans): the match
 * and the order are over every ban, not the page shown. While they are set,
 * signals make the page read again (at most once a second) instead of
 * placing the ban themselves.
 */
"use strict";

(function (jb) {
    const PAGE = 100;
    const COLUMNS = ["address", "jail", "banned_at", "expires_at", "count", "reason"]; // row order
    const DESCENDING_FIRST = ["banned_at", "expires_at", "count"];
    const REREAD_MS = 1000;
    const TYPING_MS = 300;

    jb.BanList = function (canUnban) {
        const self = this;
        self.jail = "";
        self.offset = 0;
        self.total = 0;
        self.generation = 0;
        self.rows = []; // [address, jail, banned_at, expires_at, count, reason]
        self.sortColumn = 2;
        self.descending = true;
        self.text = "";
        self.canUnban = canUnban;
        let reading = null;
        let rereadTimer = null;
        let typingTimer = null;

        const body = document.querySelector("#bans tbody");
        const filter = document.getElementById("list-filter");

        /* GetBans's own order with nothing to match: the list follows signals itself. */
        self.plain = function () {
            return !self.text && self.sortColumn === 2 && self.descending;
        };

        function request() {
            if (self.plain()) return jb.call("GetBans", [self.jail, self.offset, PAGE]);
            const query = {
                jail: { t: "s", v: self.jail },
                text: { t: "s", v: self.text },
                sort: { t: "s", v: COLUMNS[self.sortColumn] },
                descending: { t: "b", v: self.descending },
            };
            return jb.call("FindBans", [query, self.offset, PAGE]);
        }

        self.read = function () {
            const asked = [self.jail, self.offset, self.text, self.sortColumn, self.descending].join("\u0000");
            const current = () => [self.jail, self.offset, self.text, self.sortColumn, self.descending].join("\u0000");
            reading = request().then(reply => {
                if (asked !== current()) return; // the view moved on
                self.total = reply[0];
                self.generation = reply[1];
                self.rows = reply[2];
                document.getElementById("bans-error").textContent = "";
                self.render();
            }).catch(err => {
                document.getElementById("bans-error").textContent = jb.errorText(err);
            }).finally(() => { reading = null });
            return reading;
        };

        /* A search's page after a change: read again, at most once a second. */
        function rereadSoon() {
            if (rereadTimer) return;
            rereadTimer = window.setTimeout(() => { rereadTimer = null; self.read() }, REREAD_MS);
        }

        /* One ban of a Banned or BannedMany signal put on the page; false: not shown. */
        function applyBan(address, jail, expires, details) {
            self.generation += 1;
            if (!self.plain()) { rereadSoon(); return false }
            if (self.jail && self.jail !== jail) return false;
            const index = self.rows.findIndex(r => r[0] === address && r[1] === jail);
            const row = [address, jail, details.banned_at_usec ? details.banned_at_usec.v : Date.now() * 1000,
                expires, details.ban_count ? details.ban_count.v : 1, details.reason ? details.reason.v : ""];
            if (index >= 0) {
                self.rows[index] = row;
            } else {
                self.total += 1;
                if (self.offset === 0) {
                    self.rows.unshift(row);
                    if (self.rows.length > PAGE) self.rows.pop();
                }
            }
            return true;
        }

        self.banned = function (address, jail, expires, details) {
            if (applyBan(address, jail, expires, details)) self.render();
        };

        /* BannedMany(a(ssta{sv}) bans): a flood's step, each ban as its Banned, in order,
         * the page drawn once. */
        self.bannedMany = function (bans) {
            let shown = false;
            for (const ban of bans) {
                if (Array.isArray(ban) && ban.length === 4 && applyBan(ban[0], ban[1], ban[2], ban[3]))
                    shown = true;
            }
            if (shown) self.render();
        };

        self.unbanned = function (address, jail) {
            self.generation += 1;
            if (!self.plain()) { rereadSoon(); return }
            if (self.jail && self.jail !== jail) return;
            const index = self.rows.findIndex(r => r[0] === address && r[1] === jail);
            if (index >= 0) self.rows.splice(index, 1);
            self.total = Math.max(0, self.total - 1);
            self.render();
        };

        /* PropertiesChanged of Manager1: re-read only when signals were missed. */
        self.generationIs = function (generation) {
            if (generation !== self.generation && !reading) self.read();
        };

        self.render = function () {
            const rows = self.rows; // matched and ordered by the agent
            const col = self.sortColumn;
            const fresh = document.createDocumentFragment();
            rows.forEach(r => {
                const tr = document.createElement("tr");
                tr.dataset.address = r[0];
                tr.append(jb.element("td", r[0]), jb.element("td", r[1]), jb.element("td", r[5]),
                          jb.element("td", jb.formatTime(r[2])), jb.element("td", jb.formatTime(r[3])),
                          jb.element("td", r[4], "num"));
                const cell = document.createElement("td");
                if (self.canUnban) {
                    const button = jb.element("button", "Unban", "unban");
                    button.type = "button";
                    button.addEventListener("click", () => {
                        button.disabled = true;
                        jb.call("Unban", [r[0], r[1]]).catch(err => {
                            button.disabled = false;
                            document.getElementById("bans-error").textContent = jb.errorText(err);
                        });
                    });
                    cell.append(button);
                }
                tr.append(cell);
                fresh.append(tr);
            });
            body.replaceChildren(fresh);
            document.querySelectorAll("#bans th[data-sort]").forEach(th => {
                th.classList.toggle("sorted", Number(th.dataset.sort) === col);
                th.classList.toggle("ascending", Number(th.dataset.sort) === col && !self.descending);
            });
            document.getElementById("ban-total").textContent = "(" + self.total + ")";
            const last = Math.min(self.offset + PAGE, self.total);
            document.getElementById("page-info").textContent = self.total
                ? (self.offset + 1) + "–" + last + " of " + self.total : "no bans";
            document.getElementById("prev-page").disabled = self.offset === 0;
            document.getElementById("next-page").disabled = self.offset + PAGE >= self.total;
            document.getElementById("unban-all").hidden = !(self.canUnban && self.jail);
        };

        filter.addEventListener("input", () => {
            window.clearTimeout(typingTimer);
            typingTimer = window.setTimeout(() => {
                self.text = filter.value.trim();
                self.offset = 0;
                self.read();
            }, TYPING_MS);
        });
        document.getElementById("list-jail").addEventListener("change", ev => {
            self.jail = ev.target.value;
            self.offset = 0;
            self.read();
        });
        document.getElementById("prev-page").addEventListener("click", () => {
            self.offset = Math.max(0, self.offset - PAGE);
            self.read();
        });
        document.getElementById("next-page").addEventListener("click", () => {
            self.offset += PAGE;
            self.read();
        });
        document.getElementById("unban-all").addEventListener("click", () => {
            jb.call("UnbanAll", [self.jail]).catch(err => {
                document.getElementById("bans-error").textContent = jb.errorText(err);
            });
        });
        document.querySelectorAll("#bans th[data-sort]").forEach(th => {
            th.addEventListener("click", () => {
                const col = Number(th.dataset.sort);
                if (col === self.sortColumn) {
                    self.descending = !self.descending; // a second click turns the order round
                } else {
                    self.sortColumn = col;
                    self.descending = DESCENDING_FIRST.includes(COLUMNS[col]);
                }
                self.offset = 0;
                self.read();
            });
        });
    };
}(window.journalban));
