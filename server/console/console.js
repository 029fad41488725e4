/* global document, HTMLInputElement, HTMLTextAreaElement, Event */
// The console's own script (besides htmx): a file picked in an <input type="file" data-fills="id">
// is read in the browser into the textarea with that id, to be checked and imported like pasted
// text. Nothing else; every page works without it.
document.addEventListener('change', async (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.dataset.fills) return;
  const target = document.getElementById(input.dataset.fills);
  const file = input.files && input.files[0];
  if (!(target instanceof HTMLTextAreaElement) || !file) return;
  target.value = await file.text();
  target.dispatchEvent(new Event('input', { bubbles: true }));
});
