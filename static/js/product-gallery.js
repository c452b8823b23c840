// Product page enhancements; the page works without them (thumbnails are anchor links, every
// photo is in the scrollable gallery, each variant lists its own price).
// - thumbnails scroll the gallery instead of jumping the whole page
// - choosing a metal shows its photo (data-variant / data-metal; the choice comes from product-options.js)
(function () {
  "use strict";

  var gallery = document.querySelector("[data-gallery]");
  var slides = gallery ? gallery.querySelector("[data-gallery-slides]") : null;

  function showSlide(slide) {
    if (!slides || !slide) return;
    slides.scrollTo({ left: slide.offsetLeft - slides.offsetLeft, behavior: "smooth" });
    markThumb(slide.id);
  }

  function markThumb(id) {
    if (!gallery) return;
    gallery.querySelectorAll(".gallery__thumb").forEach(function (thumb) {
      if (thumb.getAttribute("href") === "#" + id) {
        thumb.setAttribute("aria-current", "true");
      } else {
        thumb.removeAttribute("aria-current");
      }
    });
  }

  if (gallery) {
    gallery.addEventListener("click", function (event) {
      var thumb = event.target.closest(".gallery__thumb");
      if (!thumb) return;
      var slide = document.getElementById(thumb.getAttribute("href").slice(1));
      if (!slide) return;
      event.preventDefault();
      showSlide(slide);
    });
  }

  if (slides && "IntersectionObserver" in window) {
    // Keep the highlighted thumbnail in step when the shopper swipes.
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) markThumb(entry.target.id);
      });
    }, { root: slides, threshold: 0.6 });
    slides.querySelectorAll(".gallery__slide[id]").forEach(function (slide) { observer.observe(slide); });
  }

  // js/product-options.js says which metal (and variant) is chosen: show its photo.
  document.addEventListener("shop:metal", function (event) {
    if (!slides) return;
    var detail = event.detail || {};
    // This variant's own photo, else one of the same metal (a ring size has no photo of its own).
    var slide = (detail.variant && slides.querySelector('.gallery__slide[data-variant="' + detail.variant + '"]')) ||
      (detail.metal && slides.querySelector('.gallery__slide[data-metal="' + detail.metal + '"]'));
    if (slide) showSlide(slide);
  });
})();
