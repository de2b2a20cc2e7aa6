// The light/dark theme (saved choice, #theme toggle, theme in use): one for both the studio and the API reference.

import { $ } from "/ui/dom.js";

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

// The theme in use, chosen or the system's; plugin frames are told it.
export function currentTheme() {
  return document.documentElement.dataset.theme ?? (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
}

// Applies the saved choice and makes the page's #theme button switch it. `onChange` (the
// studio tells its plugin frames) runs after each switch and when the system's theme changes.
export function setupThemeToggle(onChange) {
  applyTheme(localStorage.getItem("plugboard-theme"));
  $("theme").addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme
      ? document.documentElement.dataset.theme === "dark"
      : matchMedia("(prefers-color-scheme: dark)").matches;
    const next = dark ? "light" : "dark";
    localStorage.setItem("plugboard-theme", next);
    applyTheme(next);
    onChange?.();
  });
  if (onChange) matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => onChange());
}
