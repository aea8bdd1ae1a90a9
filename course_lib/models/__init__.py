"""미니 월드의 세 부품: 시각 인코더(vision), 프로젝터(projector), 언어 모델(llm), 그리고 이를 합친 VLM."""
