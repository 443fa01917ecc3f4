// The console works without this file; with it, a filter applies when it changes and a step that cannot be
// taken back asks first. Loaded from this site only (the pages' Content-Security-Policy allows no other).
document.addEventListener("change", (e) => {
  const form = e.target.closest("form[data-autosubmit]");
  if (form) form.requestSubmit();
});
document.addEventListener("submit", (e) => {
  const ask = e.target.getAttribute("data-confirm");
  if (ask && !window.confirm(ask)) e.preventDefault();
});
