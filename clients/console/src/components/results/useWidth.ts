/** The content width of an element, following resizes (the fallback where ResizeObserver is missing). */
import { useCallback, useEffect, useState } from "react";

export function useWidth<T extends HTMLElement>(fallback: number, min = 360) {
  const [element, setElement] = useState<T | null>(null);
  const [width, setWidth] = useState(fallback);
  const ref = useCallback((el: T | null) => setElement(el), []);
  useEffect(() => {
    if (element === null || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w !== undefined && w > 0) setWidth(Math.max(min, Math.floor(w)));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [element, min]);
  return [ref, width] as const;
}
